"""vault key ids: each secret records the key it was written under, the active key is stored;
a mailbox password's pending copy is dropped where a confirmed one exists

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_PENDING = "mailbox-password-pending:"


def upgrade() -> None:
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    vault_state = op.create_table(
        "vault_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vault_state")),
    )
    # the one row; its key id is set by the first secret written (or by a rotation)
    op.bulk_insert(vault_state, [{"id": 1, "key_id": None, "rotated_at": None}])
    # every confirmed mailbox password also kept its pending copy (the same value): drop the copies
    op.execute(
        sa.text(
            "DELETE FROM secrets WHERE name LIKE :pending AND EXISTS (SELECT 1 FROM secrets AS confirmed "
            "WHERE confirmed.owner = secrets.owner "
            "AND confirmed.name = 'mailbox-password:' || substr(secrets.name, :start))"
        ).bindparams(pending=_PENDING + "%", start=len(_PENDING) + 1)
    )


def downgrade() -> None:
    op.drop_table("vault_state")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_column("key_id")

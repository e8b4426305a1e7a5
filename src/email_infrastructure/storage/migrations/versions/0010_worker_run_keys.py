"""worker run keys: a task run's effects are stored once however often its job is delivered

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "worker_run_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_run_keys")),
        sa.UniqueConstraint("key", name=op.f("uq_worker_run_keys_key")),
    )
    with op.batch_alter_table("worker_run_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worker_run_keys_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("worker_run_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_worker_run_keys_created_at"))
    op.drop_table("worker_run_keys")

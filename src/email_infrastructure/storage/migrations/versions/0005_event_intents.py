"""event intents: the audit log survives a kill between a provider write and its event

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_intents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=300), nullable=False),
        sa.Column("topic", sa.String(length=128), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("correlation_id", sa.String(length=32), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_intents")),
    )
    with op.batch_alter_table("event_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_event_intents_scope"), ["scope"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("event_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_event_intents_scope"))
    op.drop_table("event_intents")

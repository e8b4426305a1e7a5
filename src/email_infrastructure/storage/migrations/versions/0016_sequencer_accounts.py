"""sequencer_accounts: each mailbox's account at a sequencer (the platform's key, created by us or adopted)

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sequencer_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sequencer", sa.String(length=128), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("remote_id", sa.String(length=320), nullable=False),
        sa.Column("created_by_us", sa.Boolean(), nullable=False),
        sa.Column("password_fp", sa.String(length=64), nullable=True),
        sa.Column("warmup_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_sequencer_accounts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequencer_accounts")),
        sa.UniqueConstraint("workspace_id", "sequencer", "address", name="uq_sequencer_accounts_workspace"),
    )
    op.create_index("ix_sequencer_accounts_workspace_domain", "sequencer_accounts", ["workspace_id", "domain"])


def downgrade() -> None:
    op.drop_index("ix_sequencer_accounts_workspace_domain", table_name="sequencer_accounts")
    op.drop_table("sequencer_accounts")

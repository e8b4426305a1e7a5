"""dmarc report notes: what was odd about a stored report (repaired XML, trailing bytes, early dates)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dmarc_reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("dmarc_reports", schema=None) as batch_op:
        batch_op.drop_column("notes")

"""check_states.finding: the worst error of an escalating check's failing state (a new one alerts again)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("check_states") as batch:
        batch.add_column(sa.Column("finding", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("check_states") as batch:
        batch.drop_column("finding")

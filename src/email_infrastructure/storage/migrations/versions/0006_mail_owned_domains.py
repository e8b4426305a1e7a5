"""mail domains we created: only these are removed by `apply --prune`

Domains created before this table existed are recovered from the audit log: a
`mail.domain.created` event is written only after our add/domain call read back.

Revision ID: 0006
Revises: 0005
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    owned = op.create_table(
        "mail_owned_domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_owned_domains")),
        sa.UniqueConstraint("backend", "domain", name=op.f("uq_mail_owned_domains_backend")),
    )
    with op.batch_alter_table("mail_owned_domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_owned_domains_domain"), ["domain"], unique=False)
    events = sa.table("events", sa.column("topic", sa.String()), sa.column("payload", sa.JSON()))
    rows = op.get_bind().execute(sa.select(events.c.payload).where(events.c.topic == "mail.domain.created"))
    found = {(str(p["backend"]), str(p["domain"])) for (p,) in rows if isinstance(p, dict) and "backend" in p}
    if found:
        now = datetime.now(UTC)
        op.bulk_insert(owned, [{"backend": b, "domain": d, "created_at": now} for b, d in sorted(found)])


def downgrade() -> None:
    with op.batch_alter_table("mail_owned_domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_owned_domains_domain"))
    op.drop_table("mail_owned_domains")

"""domain_status: the overview's row per domain (worst state per column), backfilled from check_states

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: the overview's columns and the check whose worst state fills each (storage/overview_rows.py)
_COLUMNS = ("drift", "spf", "dkim", "dmarc", "dnsbl", "tls", "mailbox")
_RANK = "CASE c.status WHEN 'ok' THEN 1 WHEN 'warning' THEN 2 WHEN 'unknown' THEN 3 WHEN 'error' THEN 4 ELSE 0 END"
_CELLS = ", ".join(f"""COALESCE(MAX(CASE WHEN c."check" = '{name}' THEN {_RANK} ELSE 0 END), 0)""" for name in _COLUMNS)
_EVERY = ", ".join(f"'{name}'" for name in _COLUMNS)
#: every domain's subjects (name, its server's IP, its mailboxes) joined to their states, as `rows_select` does
_BACKFILL = f"""
INSERT INTO domain_status (domain_id, workspace_id, name, server_id, dns_provider, {", ".join(_COLUMNS)}, status,
  checked_at)
SELECT s.domain_id, s.workspace_id, s.name, s.server_id, s.dns_provider, {_CELLS},
  COALESCE(MAX(CASE WHEN c."check" IN ({_EVERY}) THEN {_RANK} ELSE 0 END), 0),
  MAX(CASE WHEN s.own = 1 THEN c.checked_at END)
FROM (
  SELECT d.id AS domain_id, d.workspace_id AS workspace_id, d.name AS name, d.server_id AS server_id,
    d.dns_provider AS dns_provider, d.name AS subject, 1 AS own FROM domains d
  UNION ALL
  SELECT d.id, d.workspace_id, d.name, d.server_id, d.dns_provider, v.ipv4, 0 FROM domains d
  JOIN servers v ON v.id = d.server_id WHERE v.ipv4 IS NOT NULL
  UNION ALL
  SELECT d.id, d.workspace_id, d.name, d.server_id, d.dns_provider, m.local_part || '@' || d.name, 1 FROM domains d
  JOIN mailboxes m ON m.domain_id = d.id
) s
LEFT OUTER JOIN check_states c ON c.workspace_id = s.workspace_id AND c.subject = s.subject
GROUP BY s.domain_id, s.workspace_id, s.name, s.server_id, s.dns_provider
"""  # noqa: S608  # made of the constants above, no input


def upgrade() -> None:
    op.create_table(
        "domain_status",
        sa.Column("domain_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("server_id", sa.Integer(), nullable=True),
        sa.Column("dns_provider", sa.String(length=128), nullable=True),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in (*_COLUMNS, "status")),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_domain_status_domain_id_domains"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_domain_status_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("domain_id", name=op.f("pk_domain_status")),
    )
    op.create_index("ix_domain_status_workspace_status_name", "domain_status", ["workspace_id", "status", "name"])
    op.create_index("ix_domain_status_workspace_server_id", "domain_status", ["workspace_id", "server_id"])
    op.create_index("ix_domain_status_workspace_checked_at", "domain_status", ["workspace_id", "checked_at"])
    op.create_index("ix_check_states_workspace_status", "check_states", ["workspace_id", "status"])
    op.get_bind().execute(sa.text(_BACKFILL))


def downgrade() -> None:
    op.drop_index("ix_check_states_workspace_status", table_name="check_states")
    for name in ("status_name", "server_id", "checked_at"):
        op.drop_index(f"ix_domain_status_workspace_{name}", table_name="domain_status")
    op.drop_table("domain_status")

"""domain_status: registration (with expiry), delegation and sequencer columns, rows recomputed from check_states

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_NEW = ("registration", "delegation", "sequencer")
#: every column after this revision and the checks whose worst state fills it (storage/overview_rows.py)
_CHECKS = {
    "drift": ("drift",),
    "spf": ("spf",),
    "dkim": ("dkim",),
    "dmarc": ("dmarc",),
    "dnsbl": ("dnsbl",),
    "tls": ("tls",),
    "mailbox": ("mailbox",),
    "registration": ("registration", "expiry"),
    "delegation": ("delegation",),
    "sequencer": ("sequencer",),
}
_RANK = "CASE c.status WHEN 'ok' THEN 1 WHEN 'warning' THEN 2 WHEN 'unknown' THEN 3 WHEN 'error' THEN 4 ELSE 0 END"


def _among(checks: tuple[str, ...]) -> str:
    return ", ".join(f"'{name}'" for name in checks)


_CELLS = ", ".join(
    f"""COALESCE(MAX(CASE WHEN c."check" IN ({_among(checks)}) THEN {_RANK} ELSE 0 END), 0)"""
    for checks in _CHECKS.values()
)
_EVERY = _among(tuple(name for checks in _CHECKS.values() for name in checks))
#: every domain's subjects (name, its server's IP, its mailboxes) joined to their states, as `rows_select` does
_BACKFILL = f"""
INSERT INTO domain_status (domain_id, workspace_id, name, server_id, dns_provider, {", ".join(_CHECKS)}, status,
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
    with op.batch_alter_table("domain_status") as batch:
        for name in _NEW:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=False, server_default="0"))
    # the status (the worst cell) now counts these checks too: every row again, as the backfill of 0015 did
    op.execute("DELETE FROM domain_status")
    op.get_bind().execute(sa.text(_BACKFILL))


def downgrade() -> None:
    with op.batch_alter_table("domain_status") as batch:
        for name in _NEW:
            batch.drop_column(name)

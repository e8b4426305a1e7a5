"""workspaces: every row of the desired state, history and reports belongs to one; earlier rows to `default`

Revision ID: 0014
Revises: 0013
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: scoped table → (unique constraint it had, the columns of its per-workspace one, that one's name)
_UNIQUE: dict[str, tuple[str, list[str], str]] = {
    "providers": ("uq_providers_kind", ["kind", "name"], "uq_providers_workspace_kind_name"),
    "servers": ("uq_servers_name", ["name"], "uq_servers_workspace_name"),
    "secrets": ("uq_secrets_owner", ["owner", "name"], "uq_secrets_workspace_owner_name"),
    "dns_owned_records": (
        "uq_dns_owned_records_provider",
        ["provider", "zone", "name", "type"],
        "uq_dns_owned_records_workspace_rrset",
    ),
    "mail_owned_domains": ("uq_mail_owned_domains_backend", ["backend", "domain"], "uq_mail_owned_domains_workspace"),
    "check_states": ("uq_check_states_subject", ["subject", "check"], "uq_check_states_workspace_subject_check"),
    "vps_servers": ("uq_vps_servers_name", ["name"], "uq_vps_servers_workspace_name"),
    "dmarc_reports": (
        "uq_dmarc_reports_org_name",
        ["org_name", "report_id", "domain"],
        "uq_dmarc_reports_workspace_report",
    ),
    "tls_reports": ("uq_tls_reports_org_name", ["org_name", "report_id"], "uq_tls_reports_workspace_report"),
    "dmarc_failure_reports": (
        "uq_dmarc_failure_reports_fingerprint",
        ["fingerprint"],
        "uq_dmarc_failure_reports_workspace_fingerprint",
    ),
    "jobs": ("uq_jobs_job_key", ["job_key"], "uq_jobs_workspace_job_key"),
}
#: every scoped table (models.WorkspaceScoped); `events` and `event_intents` keep NULL for install-wide events
_SCOPED = [
    "providers",
    "desired_settings",
    "servers",
    "domains",
    "mailboxes",
    "events",
    "event_intents",
    "secrets",
    "dns_owned_records",
    "mail_owned_domains",
    "applied_plans",
    "check_results",
    "check_states",
    "vps_servers",
    "dmarc_reports",
    "dmarc_records",
    "tls_reports",
    "tls_policy_results",
    "tls_failures",
    "dmarc_failure_reports",
    "stored_plans",
    "jobs",
]
_OPTIONAL = {"events", "event_intents"}


def _fk(table: str) -> str:
    return f"fk_{table}_workspace_id_workspaces"


def upgrade() -> None:
    workspaces = op.create_table(
        "workspaces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("name", name=op.f("uq_workspaces_name")),
    )
    op.bulk_insert(workspaces, [{"id": 1, "name": "default", "created_at": datetime.now(UTC)}])
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":  # an explicit id leaves the sequence behind: the next workspace would take 1
        bind.execute(sa.text("SELECT setval(pg_get_serial_sequence('workspaces', 'id'), 1)"))
    for table in [*_SCOPED, "api_keys"]:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("workspace_id", sa.Integer(), nullable=True))
    for table in _SCOPED:
        bind.execute(sa.update(sa.table(table, sa.column("workspace_id"))).values(workspace_id=1))
    for table in [*_SCOPED, "api_keys"]:
        with op.batch_alter_table(table) as batch:
            if table not in _OPTIONAL and table != "api_keys":
                batch.alter_column("workspace_id", existing_type=sa.Integer(), nullable=False)
            batch.create_foreign_key(_fk(table), "workspaces", ["workspace_id"], ["id"], ondelete="CASCADE")
            if table in _UNIQUE:
                old, columns, new = _UNIQUE[table]
                batch.drop_constraint(old, type_="unique")
                batch.create_unique_constraint(new, ["workspace_id", *columns])
            if table == "desired_settings":
                batch.drop_constraint("pk_desired_settings", type_="primary")
                batch.create_primary_key("pk_desired_settings", ["workspace_id", "key"])
            if table == "domains":  # a workspace's listing walks its domains by name
                batch.create_index("ix_domains_workspace_id_name", ["workspace_id", "name"])


def downgrade() -> None:
    # back to one install-wide set of rows: the default workspace's and the install-wide ones are kept
    bind = op.get_bind()
    for table in [*_SCOPED, "api_keys"]:
        scoped = sa.table(table, sa.column("workspace_id"))
        bind.execute(sa.delete(scoped).where(scoped.c.workspace_id != 1))
    for table in [*_SCOPED, "api_keys"]:
        with op.batch_alter_table(table) as batch:
            if table == "domains":
                batch.drop_index("ix_domains_workspace_id_name")
            if table == "desired_settings":
                batch.drop_constraint("pk_desired_settings", type_="primary")
                batch.create_primary_key("pk_desired_settings", ["key"])
            if table in _UNIQUE:
                old, columns, new = _UNIQUE[table]
                batch.drop_constraint(new, type_="unique")
                batch.create_unique_constraint(old, columns)
            batch.drop_constraint(_fk(table), type_="foreignkey")
            batch.drop_column("workspace_id")
    op.drop_table("workspaces")

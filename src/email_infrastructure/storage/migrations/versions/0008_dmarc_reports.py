"""DMARC aggregate and failure reports, SMTP TLS reports, the sources they name

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dmarc_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_name", sa.String(length=253), nullable=False),
        sa.Column("report_id", sa.String(length=255), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("schema", sa.String(length=16), nullable=False),
        sa.Column("begin", _WHEN, nullable=False),
        sa.Column("end", _WHEN, nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("record_count", sa.Integer(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("ingested_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_reports")),
        sa.UniqueConstraint("org_name", "report_id", "domain", name=op.f("uq_dmarc_reports_org_name")),
    )
    op.create_index(op.f("ix_dmarc_reports_domain"), "dmarc_reports", ["domain"])
    op.create_index(op.f("ix_dmarc_reports_ingested_at"), "dmarc_reports", ["ingested_at"])
    op.create_table(
        "dmarc_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_pk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("dkim", sa.String(length=16), nullable=False),
        sa.Column("spf", sa.String(length=16), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.Column("spf_aligned", sa.Boolean(), nullable=False),
        sa.Column("dmarc_pass", sa.Boolean(), nullable=False),
        sa.Column("header_from", sa.String(length=253), nullable=False),
        sa.Column("envelope_from", sa.String(length=253), nullable=True),
        sa.Column("envelope_to", sa.String(length=253), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["dmarc_reports.id"],
            name=op.f("fk_dmarc_records_report_pk_dmarc_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_records")),
    )
    op.create_index("ix_dmarc_records_domain_day", "dmarc_records", ["domain", "day"])
    op.create_index(op.f("ix_dmarc_records_report_pk"), "dmarc_records", ["report_pk"])
    op.create_table(
        "dmarc_sources",
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("reverse_dns", sa.String(length=253), nullable=False),
        sa.Column("checked_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_dmarc_sources")),
    )
    op.create_table(
        "tls_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_name", sa.String(length=253), nullable=False),
        sa.Column("report_id", sa.String(length=255), nullable=False),
        sa.Column("begin", _WHEN, nullable=False),
        sa.Column("end", _WHEN, nullable=False),
        sa.Column("contact_info", sa.String(length=320), nullable=False),
        sa.Column("origin", sa.Text(), nullable=False),
        sa.Column("ingested_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_reports")),
        sa.UniqueConstraint("org_name", "report_id", name=op.f("uq_tls_reports_org_name")),
    )
    op.create_table(
        "tls_policy_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_pk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("policy_type", sa.String(length=32), nullable=False),
        sa.Column("successful_sessions", sa.Integer(), nullable=False),
        sa.Column("failed_sessions", sa.Integer(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["tls_reports.id"],
            name=op.f("fk_tls_policy_results_report_pk_tls_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_policy_results")),
    )
    op.create_index(op.f("ix_tls_policy_results_domain"), "tls_policy_results", ["domain"])
    op.create_index(op.f("ix_tls_policy_results_report_pk"), "tls_policy_results", ["report_pk"])
    op.create_table(
        "tls_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("policy_pk", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("result_type", sa.String(length=64), nullable=False),
        sa.Column("failed_session_count", sa.Integer(), nullable=False),
        sa.Column("sending_mta_ip", sa.String(length=45), nullable=False),
        sa.Column("receiving_mx_hostname", sa.String(length=253), nullable=False),
        sa.Column("receiving_ip", sa.String(length=45), nullable=False),
        sa.Column("additional_information", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_pk"],
            ["tls_policy_results.id"],
            name=op.f("fk_tls_failures_policy_pk_tls_policy_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tls_failures")),
    )
    op.create_index(op.f("ix_tls_failures_domain"), "tls_failures", ["domain"])
    op.create_index(op.f("ix_tls_failures_policy_pk"), "tls_failures", ["policy_pk"])
    op.create_table(
        "dmarc_failure_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("arrival", _WHEN, nullable=True),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("reporter", sa.String(length=253), nullable=False),
        sa.Column("auth_failure", sa.String(length=32), nullable=False),
        sa.Column("delivery_result", sa.String(length=32), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("original_headers", sa.Text(), nullable=False),
        sa.Column("ingested_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_failure_reports")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_dmarc_failure_reports_fingerprint")),
    )
    op.create_index(op.f("ix_dmarc_failure_reports_domain"), "dmarc_failure_reports", ["domain"])
    op.create_index(op.f("ix_dmarc_failure_reports_ingested_at"), "dmarc_failure_reports", ["ingested_at"])


def downgrade() -> None:
    for table in ("dmarc_failure_reports", "tls_failures", "tls_policy_results", "tls_reports", "dmarc_sources"):
        op.drop_table(table)
    op.drop_table("dmarc_records")
    op.drop_table("dmarc_reports")

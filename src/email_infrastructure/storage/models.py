"""SQLAlchemy 2 models: the desired state, the audit log, API keys and encrypted secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as _date
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Timezone-aware now, the only clock the models use."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back aware of it, on every database.

    SQLite has no zone: it kept an aware value's wall time (`+02:00` stored as if UTC) and handed
    back naive values, which every reader had to remember were UTC. PostgreSQL's `timestamptz`
    behaves the same through this type. A naive value given to it is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """To UTC before it is stored."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Aware (UTC) when read."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: UtcDateTime(),
    }


class Workspace(Base):
    """A client of an agency (or `default`): every scoped row belongs to exactly one."""

    __tablename__ = "workspaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: the id of the workspace that migration 0014 creates and moves every earlier row into
DEFAULT_WORKSPACE_ID = 1


class WorkspaceRow:
    """A row a unit of work reads, updates and deletes only in its workspace; new rows get its
    workspace (storage/scoping.py)."""

    #: True where a row may belong to no workspace (an install-wide event such as a vault rotation)
    workspace_optional: ClassVar[bool] = False


class WorkspaceScoped(WorkspaceRow):
    """A row of exactly one workspace."""

    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class WorkspaceOptional(WorkspaceRow):
    """A row of one workspace, or of none (install-wide: seen in the scope of every workspace only)."""

    workspace_optional = True
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Provider(_Timestamps, WorkspaceScoped, Base):
    """A named provider of the desired state (credentials only as `env:NAME` references)."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "name", name="uq_providers_workspace_kind_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    managed_by: Mapped[str] = mapped_column(String(255), default="api")


class DesiredSetting(_Timestamps, WorkspaceScoped, Base):
    """A fleet-wide document of the desired state: `defaults` or `monitoring`."""

    __tablename__ = "desired_settings"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    managed_by: Mapped[str] = mapped_column(String(255), default="api")


class Server(_Timestamps, WorkspaceScoped, Base):
    """A mail server of the desired state."""

    __tablename__ = "servers"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_servers_workspace_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    hostname: Mapped[str] = mapped_column(String(253))
    provider: Mapped[str | None] = mapped_column(String(128))
    ipv4: Mapped[str | None] = mapped_column(String(15))
    ipv6: Mapped[str | None] = mapped_column(String(39))
    mail_backend: Mapped[str | None] = mapped_column(String(128))
    managed_by: Mapped[str] = mapped_column(String(255), default="api")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Domain(_Timestamps, WorkspaceScoped, Base):
    """A sending domain of the desired state."""

    __tablename__ = "domains"
    #: a workspace's domains by name: its listing's page, total and filters walk this index alone
    __table_args__ = (Index("ix_domains_workspace_id_name", "workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    dns_provider: Mapped[str | None] = mapped_column(String(128))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="SET NULL"))
    managed_by: Mapped[str] = mapped_column(String(255), default="api")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mailboxes: Mapped[list[Mailbox]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", order_by="Mailbox.local_part"
    )


class Mailbox(_Timestamps, WorkspaceScoped, Base):
    """A mailbox on a sending domain."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("domain_id", "local_part"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), index=True)
    local_part: Mapped[str] = mapped_column(String(64))
    first_name: Mapped[str] = mapped_column(String(64))
    last_name: Mapped[str] = mapped_column(String(64))
    managed_by: Mapped[str] = mapped_column(String(255), default="api")
    domain: Mapped[Domain] = relationship(back_populates="mailboxes")


class EventRecord(WorkspaceOptional, Base):
    """The audit log: every event published on the bus."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(255), default="")
    #: the plan/apply/check run the event belongs to
    correlation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(index=True)


class EventIntent(WorkspaceOptional, Base):
    """An event written before the provider call it describes, confirmed into `events` after read-back.

    A run killed in between leaves the intent: the next run confirms it if the change is at the
    provider, or drops it if not (and makes the change again, with a new intent).
    """

    __tablename__ = "event_intents"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(300), index=True)
    topic: Mapped[str] = mapped_column(String(128))
    source: Mapped[str] = mapped_column(String(255), default="")
    correlation_id: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column()


class ApiKey(Base):
    """An API key, stored as a hash; the key itself is shown once."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[str] = mapped_column(String(64), default="read")
    #: the one workspace the key acts in; None: an operator key, for every workspace
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class SecretRecord(_Timestamps, WorkspaceScoped, Base):
    """A generated secret (mailbox password, DKIM private key), encrypted by the vault."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("workspace_id", "owner", "name", name="uq_secrets_workspace_owner_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    ciphertext: Mapped[str] = mapped_column(Text)
    #: the id of the vault key it was written under (core.vault.key_id); None: written before ids
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)


class VaultState(Base):
    """One row: the id of the vault key every new secret is written under (set by a rotation)."""

    __tablename__ = "vault_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: None until the first secret is written (its writer's key becomes the active one)
    key_id: Mapped[str | None] = mapped_column(String(16), default=None)
    rotated_at: Mapped[datetime | None] = mapped_column(default=None)


class DnsOwnedRecord(WorkspaceScoped, Base):
    """An RRset we created or took over: only these are ever deleted without `purge`."""

    __tablename__ = "dns_owned_records"
    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "provider", "zone", "name", "type", name="uq_dns_owned_records_workspace_rrset"
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(128))
    zone: Mapped[str] = mapped_column(String(253), index=True)
    name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailOwnedDomain(WorkspaceScoped, Base):
    """A mail domain we created on a mail backend: only these are ever removed (`--prune`)."""

    __tablename__ = "mail_owned_domains"
    __table_args__ = (UniqueConstraint("workspace_id", "backend", "domain", name="uq_mail_owned_domains_workspace"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SequencerAccountRecord(_Timestamps, WorkspaceScoped, Base):
    """A mailbox's account at a sequencer: the platform's key for it, and whether we created it.

    Only accounts we created are ever removed (`--prune`); one adopted (there before us) is updated
    but never deleted. `password_fp` tells a password changed on our side since the push (a SHA-256
    fingerprint of a generated 24-character password: the password itself is only in the vault).
    """

    __tablename__ = "sequencer_accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "sequencer", "address", name="uq_sequencer_accounts_workspace"),
        Index("ix_sequencer_accounts_workspace_domain", "workspace_id", "domain"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the inventory's sequencer name (`providers.sequencers.<name>`)
    sequencer: Mapped[str] = mapped_column(String(128))
    address: Mapped[str] = mapped_column(String(320))
    domain: Mapped[str] = mapped_column(String(253))
    remote_id: Mapped[str] = mapped_column(String(320))
    created_by_us: Mapped[bool] = mapped_column(default=False)
    password_fp: Mapped[str | None] = mapped_column(String(64), default=None)
    #: when we last asked the platform to start warmup (Instantly runs it as a background job: until it
    #: shows, the plan waits instead of asking again)
    warmup_started_at: Mapped[datetime | None] = mapped_column(default=None)


class AppliedPlan(WorkspaceScoped, Base):
    """A plan as applied, with the outcome per zone."""

    __tablename__ = "applied_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component: Mapped[str] = mapped_column(String(32), default="dns")
    checksum: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CheckResultRecord(WorkspaceScoped, Base):
    """Every check result, kept as history."""

    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(253), index=True)
    check: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CheckState(WorkspaceScoped, Base):
    """The current state of each (subject, check): what alerts compare against."""

    __tablename__ = "check_states"
    __table_args__ = (
        UniqueConstraint("workspace_id", "subject", "check", name="uq_check_states_workspace_subject_check"),
        #: the failing states, few among many: the overview's grouped findings read them by this index
        Index("ix_check_states_workspace_status", "workspace_id", "status"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(253))
    check: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")
    #: the id of the worst error of an escalating check's failing state (a new one alerts again)
    finding: Mapped[str | None] = mapped_column(String(128), default=None)


class DomainStatus(WorkspaceScoped, Base):
    """A domain's overview row: the worst state per overview column over its subjects (the domain, its
    server's IP, its mailboxes), kept in step with `check_states` (storage/overview_rows.py) so the
    overview sorts and filters 100,000 domains in SQL. Ranks: 0 none, 1 ok, 2 warning, 3 unknown, 4 error."""

    __tablename__ = "domain_status"
    __table_args__ = (
        Index("ix_domain_status_workspace_status_name", "workspace_id", "status", "name"),
        Index("ix_domain_status_workspace_server_id", "workspace_id", "server_id"),
        Index("ix_domain_status_workspace_checked_at", "workspace_id", "checked_at"),
    )
    domain_id: Mapped[int] = mapped_column(ForeignKey("domains.id", ondelete="CASCADE"), primary_key=True)
    #: the domain's name, server and DNS provider (copies): every filter and sort reads this table alone
    name: Mapped[str] = mapped_column(String(253))
    server_id: Mapped[int | None] = mapped_column(Integer)
    dns_provider: Mapped[str | None] = mapped_column(String(128))
    drift: Mapped[int] = mapped_column(Integer, default=0)
    spf: Mapped[int] = mapped_column(Integer, default=0)
    dkim: Mapped[int] = mapped_column(Integer, default=0)
    dmarc: Mapped[int] = mapped_column(Integer, default=0)
    dnsbl: Mapped[int] = mapped_column(Integer, default=0)
    tls: Mapped[int] = mapped_column(Integer, default=0)
    mailbox: Mapped[int] = mapped_column(Integer, default=0)
    #: RDAP's registration and expiry checks, the delegation at the parent, the sequencers' view of the mailboxes
    registration: Mapped[int] = mapped_column(Integer, default=0)
    delegation: Mapped[int] = mapped_column(Integer, default=0)
    sequencer: Mapped[int] = mapped_column(Integer, default=0)
    #: the worst of the cells
    status: Mapped[int] = mapped_column(Integer, default=0)
    #: when the domain's own subjects (name, mailboxes) were last checked; a server IP's checks are the server's
    checked_at: Mapped[datetime | None] = mapped_column()


# --- VPS: servers as their providers report them -------------------------------------------------


class VpsServerRecord(_Timestamps, WorkspaceScoped, Base):
    """A server we created at a VPS provider: its id, addresses, reverse DNS and port 25 state.

    Written right after the provider answers (before its later steps), so a server whose DNS or
    reverse DNS failed is remembered and shows up in the next plan.
    """

    __tablename__ = "vps_servers"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_vps_servers_workspace_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the inventory's server name
    name: Mapped[str] = mapped_column(String(128))
    #: the inventory's VPS provider name
    provider: Mapped[str] = mapped_column(String(128))
    provider_id: Mapped[str] = mapped_column(String(64))
    provider_name: Mapped[str] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(16))
    ipv4: Mapped[str | None] = mapped_column(String(15))
    ipv6: Mapped[str | None] = mapped_column(String(39))
    server_type: Mapped[str] = mapped_column(String(64), default="")
    location: Mapped[str] = mapped_column(String(64), default="")
    image: Mapped[str] = mapped_column(String(128), default="")
    #: reverse DNS per address as last set and read back
    ptr: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: outbound port 25: unknown | blocked | open
    port25: Mapped[str] = mapped_column(String(8), default="unknown")
    #: where that state came from: provider-default | declared | probe | recorded
    port25_source: Mapped[str] = mapped_column(String(32), default="")
    last_error: Mapped[str | None] = mapped_column(Text)


# --- DMARC aggregate and failure reports, SMTP TLS reports (dmarc/, services/dmarc.py) -----------


class DmarcReport(WorkspaceScoped, Base):
    """An aggregate report, stored once per (reporting org, report id, policy domain)."""

    __tablename__ = "dmarc_reports"
    __table_args__ = (
        UniqueConstraint("workspace_id", "org_name", "report_id", "domain", name="uq_dmarc_reports_workspace_report"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_name: Mapped[str] = mapped_column(String(253))
    report_id: Mapped[str] = mapped_column(String(255))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    schema: Mapped[str] = mapped_column(String(16))
    begin: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    #: policy_published as found, plus report_metadata's errors and generator
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    record_count: Mapped[int] = mapped_column(Integer, default=0)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    origin: Mapped[str] = mapped_column(Text, default="")
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    #: what was odd but did not stop it being stored: repaired XML, bytes after the gzip data, dates
    #: before DMARC existed (a list of sentences)
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)


class DmarcRecord(WorkspaceScoped, Base):
    """One record of an aggregate report, filed under its policy domain and the report's first day."""

    __tablename__ = "dmarc_records"
    __table_args__ = (Index("ix_dmarc_records_domain_day", "domain", "day"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("dmarc_reports.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253))
    day: Mapped[_date] = mapped_column(Date)
    source_ip: Mapped[str] = mapped_column(String(45))
    count: Mapped[int] = mapped_column(Integer)
    disposition: Mapped[str] = mapped_column(String(16))
    dkim: Mapped[str] = mapped_column(String(16))
    spf: Mapped[str] = mapped_column(String(16))
    dkim_aligned: Mapped[bool] = mapped_column(Boolean)
    spf_aligned: Mapped[bool] = mapped_column(Boolean)
    dmarc_pass: Mapped[bool] = mapped_column(Boolean)
    header_from: Mapped[str] = mapped_column(String(253))
    envelope_from: Mapped[str | None] = mapped_column(String(253))
    envelope_to: Mapped[str | None] = mapped_column(String(253))
    #: override reasons and the raw DKIM/SPF results: {"reasons": [...], "dkim": [...], "spf": [...]}
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DmarcSource(Base):
    """What we learnt about a sending IP (reverse DNS), refreshed once per ingest run."""

    __tablename__ = "dmarc_sources"
    ip: Mapped[str] = mapped_column(String(45), primary_key=True)
    reverse_dns: Mapped[str] = mapped_column(String(253), default="")
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class TlsReportRecord(WorkspaceScoped, Base):
    """An SMTP TLS report (RFC 8460), stored once per (organization, report id)."""

    __tablename__ = "tls_reports"
    __table_args__ = (
        UniqueConstraint("workspace_id", "org_name", "report_id", name="uq_tls_reports_workspace_report"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_name: Mapped[str] = mapped_column(String(253))
    report_id: Mapped[str] = mapped_column(String(255))
    begin: Mapped[datetime] = mapped_column()
    end: Mapped[datetime] = mapped_column()
    contact_info: Mapped[str] = mapped_column(String(320), default="")
    origin: Mapped[str] = mapped_column(Text, default="")
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow)


class TlsPolicyResult(WorkspaceScoped, Base):
    """One policy of a TLS report: session counts for a policy domain on the report's first day."""

    __tablename__ = "tls_policy_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    report_pk: Mapped[int] = mapped_column(ForeignKey("tls_reports.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), index=True)
    day: Mapped[_date] = mapped_column(Date)
    policy_type: Mapped[str] = mapped_column(String(32))
    successful_sessions: Mapped[int] = mapped_column(Integer)
    failed_sessions: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TlsFailureRecord(WorkspaceScoped, Base):
    """One `failure-details` entry of a TLS report."""

    __tablename__ = "tls_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_pk: Mapped[int] = mapped_column(ForeignKey("tls_policy_results.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), index=True)
    day: Mapped[_date] = mapped_column(Date)
    result_type: Mapped[str] = mapped_column(String(64))
    failed_session_count: Mapped[int] = mapped_column(Integer)
    sending_mta_ip: Mapped[str] = mapped_column(String(45), default="")
    receiving_mx_hostname: Mapped[str] = mapped_column(String(253), default="")
    receiving_ip: Mapped[str] = mapped_column(String(45), default="")
    additional_information: Mapped[str] = mapped_column(Text, default="")


class DmarcFailureReport(WorkspaceScoped, Base):
    """A failure (forensic) report; its original headers are personal data (kept apart, trimmed)."""

    __tablename__ = "dmarc_failure_reports"
    __table_args__ = (
        UniqueConstraint("workspace_id", "fingerprint", name="uq_dmarc_failure_reports_workspace_fingerprint"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sha256 of what identifies the report (reporter, domain, source, arrival, message id)
    fingerprint: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    arrival: Mapped[datetime | None] = mapped_column()
    source_ip: Mapped[str] = mapped_column(String(45), default="")
    reporter: Mapped[str] = mapped_column(String(253), default="")
    auth_failure: Mapped[str] = mapped_column(String(32), default="")
    delivery_result: Mapped[str] = mapped_column(String(32), default="")
    fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    original_headers: Mapped[str] = mapped_column(Text, default="")
    ingested_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- workers (scale-out) ------------------------------------------------------------------------


class WorkerRunKey(Base):
    """A task run whose effects are stored: a re-delivered job with the same key stores nothing."""

    __tablename__ = "worker_run_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(512), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- API jobs (issue 12): background work started through the REST API ---------------------


class StoredPlanRecord(WorkspaceScoped, Base):
    """A plan made through the API or the dashboard, kept so that it can be applied by id."""

    __tablename__ = "stored_plans"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    checksum: Mapped[str] = mapped_column(String(80), index=True)
    #: the plan as docs/plan-format.md describes it
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: the API key that made it
    key_name: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class JobRecord(WorkspaceScoped, Base):
    """A background job (an apply started through the API); a task-queue worker can lease it later."""

    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("workspace_id", "job_key", name="uq_jobs_workspace_job_key"),)
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: queued | running | succeeded | failed
    status: Mapped[str] = mapped_column(String(16), index=True, default="queued")
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    #: the API key that started the job
    key_name: Mapped[str] = mapped_column(String(128), default="")
    #: idempotency: a second submit with the same key returns the first job
    job_key: Mapped[str | None] = mapped_column(String(200))
    #: for the task-queue workers of a later issue: who holds the job until when, and its last sign of life
    lease_until: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

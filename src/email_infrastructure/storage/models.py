"""SQLAlchemy 2 models: the desired state, the audit log, API keys and encrypted secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

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


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic needs them)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class _Timestamps:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Provider(_Timestamps, Base):
    """A named provider of the desired state (credentials only as `env:NAME` references)."""

    __tablename__ = "providers"
    __table_args__ = (UniqueConstraint("kind", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    managed_by: Mapped[str] = mapped_column(String(255), default="api")


class DesiredSetting(_Timestamps, Base):
    """A fleet-wide document of the desired state: `defaults` or `monitoring`."""

    __tablename__ = "desired_settings"
    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    managed_by: Mapped[str] = mapped_column(String(255), default="api")


class Server(_Timestamps, Base):
    """A mail server of the desired state."""

    __tablename__ = "servers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    hostname: Mapped[str] = mapped_column(String(253))
    provider: Mapped[str | None] = mapped_column(String(128))
    ipv4: Mapped[str | None] = mapped_column(String(15))
    ipv6: Mapped[str | None] = mapped_column(String(39))
    mail_backend: Mapped[str | None] = mapped_column(String(128))
    managed_by: Mapped[str] = mapped_column(String(255), default="api")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Domain(_Timestamps, Base):
    """A sending domain of the desired state."""

    __tablename__ = "domains"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(253), unique=True)
    dns_provider: Mapped[str | None] = mapped_column(String(128))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id", ondelete="SET NULL"))
    managed_by: Mapped[str] = mapped_column(String(255), default="api")
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mailboxes: Mapped[list[Mailbox]] = relationship(
        back_populates="domain", cascade="all, delete-orphan", order_by="Mailbox.local_part"
    )


class Mailbox(_Timestamps, Base):
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


class EventRecord(Base):
    """The audit log: every event published on the bus."""

    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128), index=True)
    source: Mapped[str] = mapped_column(String(255), default="")
    #: the plan/apply/check run the event belongs to
    correlation_id: Mapped[str | None] = mapped_column(String(32), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(index=True)


class EventIntent(Base):
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class SecretRecord(_Timestamps, Base):
    """A generated secret (mailbox password, DKIM private key), encrypted by the vault."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("owner", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(128))
    ciphertext: Mapped[str] = mapped_column(Text)


class DnsOwnedRecord(Base):
    """An RRset we created or took over: only these are ever deleted without `purge`."""

    __tablename__ = "dns_owned_records"
    __table_args__ = (UniqueConstraint("provider", "zone", "name", "type"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(128))
    zone: Mapped[str] = mapped_column(String(253), index=True)
    name: Mapped[str] = mapped_column(String(253))
    type: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MailOwnedDomain(Base):
    """A mail domain we created on a mail backend: only these are ever removed (`--prune`)."""

    __tablename__ = "mail_owned_domains"
    __table_args__ = (UniqueConstraint("backend", "domain"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    backend: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str] = mapped_column(String(253), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppliedPlan(Base):
    """A plan as applied, with the outcome per zone."""

    __tablename__ = "applied_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component: Mapped[str] = mapped_column(String(32), default="dns")
    checksum: Mapped[str] = mapped_column(String(80), index=True)
    status: Mapped[str] = mapped_column(String(16))
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    applied_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CheckResultRecord(Base):
    """Every check result, kept as history."""

    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(253), index=True)
    check: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CheckState(Base):
    """The current state of each (subject, check): what alerts compare against."""

    __tablename__ = "check_states"
    __table_args__ = (UniqueConstraint("subject", "check"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(253))
    check: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    since: Mapped[datetime] = mapped_column(default=utcnow)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")


# --- API jobs (issue 12): background work started through the REST API ---------------------


class JobRecord(Base):
    """A background job (an apply started through the API); a task-queue worker can lease it later."""

    __tablename__ = "jobs"
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
    job_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: for the task-queue workers of a later issue: who holds the job until when, and its last sign of life
    lease_until: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

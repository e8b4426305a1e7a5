"""The response envelope and the response models OpenAPI shows (`/docs`, `/openapi.json`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from email_infrastructure.core.inventory.schema import DOMAIN_OPTIONS
from email_infrastructure.core.names import DOMAIN_NAME_PATTERN, WORKSPACE_NAME_PATTERN
from email_infrastructure.monitoring.audit import ALL_CHECKS
from email_infrastructure.monitoring.monitor import FAMILIES, FAMILY_ALIASES
from email_infrastructure.services.audit import CHECK_ALIASES

T = TypeVar("T")
#: a domain name in a request body: what the schema states is exactly what is accepted (ASCII;
#: IDN names are added through an inventory or `email-infra domain add`)
DomainName = Annotated[
    str,
    Field(
        min_length=3,
        max_length=253,
        pattern=DOMAIN_NAME_PATTERN,
        description="an ASCII domain name of two labels or more (any case, optional final dot)",
        examples=["example.com"],
    ),
]


class Envelope(BaseModel, Generic[T]):
    """Every successful response: `{"success": true, "data": …}`."""

    success: Literal[True] = True
    data: T


class ErrorBody(BaseModel):
    """What went wrong: a stable code, a message for people, structured details."""

    code: str
    message: str
    details: list[dict[str, Any]] | dict[str, Any] | None = None


class ErrorEnvelope(BaseModel):
    """Every error response: `{"success": false, "error": {…}}`."""

    success: Literal[False] = False
    error: ErrorBody


def ok(data: T) -> Envelope[T]:
    """Wrap data in the envelope."""
    return Envelope[T](data=data)


#: documented on every route: the errors the one exception handler produces
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in (
        (400, "Bad input"),
        (401, "No API key, or an invalid one"),
        (403, "The key's scope does not allow this"),
        (404, "Not found"),
        (409, "Another owner holds the resource"),
        (413, "Request body too large"),
        (422, "The request does not match the schema"),
        (429, "Rate limited (see Retry-After)"),
        (500, "Internal error"),
        (502, "A provider failed"),
        (503, "The database cannot be used"),
    )
}


def _one_of(names: list[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in names:
            raise ValueError(f"unknown {what} (one of: {', '.join(names)})")
        return value

    return check


# names the services look up: the schema lists them, so a name it allows is one the service knows
_FAMILY_NAMES = sorted({*FAMILIES, *FAMILY_ALIASES})
_CHECK_NAMES = sorted({*ALL_CHECKS, *CHECK_ALIASES})
_OPTION_NAMES = sorted({*DOMAIN_OPTIONS, "purge"})
FamilyName = Annotated[
    str, AfterValidator(_one_of(_FAMILY_NAMES, "check family")), Field(json_schema_extra={"enum": _FAMILY_NAMES})
]
CheckName = Annotated[
    str, AfterValidator(_one_of(_CHECK_NAMES, "check")), Field(json_schema_extra={"enum": _CHECK_NAMES})
]
OptionName = Annotated[
    str, AfterValidator(_one_of(_OPTION_NAMES, "domain option")), Field(json_schema_extra={"enum": _OPTION_NAMES})
]


class Health(BaseModel):
    """A component's health."""

    status: str
    detail: str


class StatusData(BaseModel):
    """The health of one component, and where state lives."""

    component: str
    state: str
    status: str
    detail: str


class SequencerOut(BaseModel):
    """One sequencer: accounts on the platform, ours wanted, present, missing, in error; why it was not read."""

    name: str
    type: str
    can_create: bool
    accounts: int
    wanted: int
    present: int
    missing: int
    unhealthy: int
    error: str | None


class AccountHealthOut(BaseModel):
    """What the platform thinks of an account (normalised: ok, warning, error, unknown)."""

    state: str
    detail: str
    connected: bool | None
    warmup: str | None
    warmup_score: float | None
    sent_today: int | None


class SequencerAccountOut(BaseModel):
    """One wanted account: `present`, `missing` or `unknown` at its sequencer; settings that differ."""

    address: str
    sequencer: str
    state: str
    remote_id: str | None
    health: AccountHealthOut | None
    #: field → {"platform": value there, "desired": value declared}
    differs: dict[str, dict[str, Any]]
    #: the platform's state, detail and checked_at as the `sequencer` monitoring family last stored them
    last_check: dict[str, Any] | None = None


class SequencerAccounts(BaseModel):
    """Every sequencer's summary and every wanted account (`email-infra sequencer show --format json`)."""

    sequencers: list[SequencerOut]
    accounts: list[SequencerAccountOut]


class DomainOut(BaseModel):
    """A domain of the desired state, defaults applied."""

    name: str
    owner: str
    status: Literal["ok", "warning", "error", "unknown"] = Field(
        description="worst current check state; unknown when never checked (the same in the list and alone)"
    )
    spec: dict[str, Any]
    mailboxes: list[str]


class DomainList(BaseModel):
    """A page of domains."""

    items: list[DomainOut]
    total: int
    limit: int
    offset: int


class Input(BaseModel):
    """A request body: unknown fields are refused (422), not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class MailboxIn(Input):
    """A persona to create a mailbox for."""

    first_name: str = Field(min_length=1, max_length=64)
    last_name: str = Field(min_length=1, max_length=64)
    local_part: str | None = Field(default=None, max_length=64)


class DomainIn(Input):
    """A domain to add: options override the stored defaults."""

    name: DomainName
    options: dict[OptionName, Any] = Field(default_factory=dict)
    mailboxes: list[MailboxIn] = Field(default_factory=list, max_length=500)


class DomainUpdate(Input):
    """A replacement of a domain's options and mailboxes (PUT)."""

    options: dict[OptionName, Any] = Field(default_factory=dict)
    mailboxes: list[MailboxIn] = Field(default_factory=list, max_length=500)


class SequencerSyncIn(Input):
    """Which sequencer steps a sync plans and applies (`email-infra sequencer sync`)."""

    sequencer: str | None = Field(default=None, max_length=128, description="only this sequencer (default: all)")
    domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        default_factory=list, max_length=100, description="only these domains (default: all)"
    )
    prune: bool = Field(default=False, description="delete accounts we created whose mailbox is no longer wanted")
    force: bool = Field(default=False, description="allow deleting over the guard (30 % of a domain's accounts)")


class ChangeIn(Input):
    """One change to one domain (services/domain_edits.py): planned by `/changes/preview`, applied by `/changes`."""

    action: Literal["add", "update", "mailboxes", "remove"]
    domain: str = Field(min_length=1, max_length=253)
    options: dict[OptionName, Any] = Field(
        default_factory=dict, description="add: overriding the stored defaults; update: overriding the domain's own"
    )
    mailboxes: list[MailboxIn] = Field(default_factory=list, max_length=50, description="people to add")
    count: int = Field(default=0, ge=0, le=50, description="generated mailboxes to add, named by `pattern`")
    pattern: str | None = Field(default=None, max_length=64, description="e.g. {first}.{last} or {f}{last}")
    remove: list[Annotated[str, Field(max_length=320)]] = Field(
        default_factory=list, max_length=50, description="mailboxes to remove, by address or local part"
    )
    dmarc_policy: Literal["none", "quarantine", "reject"] | None = None


class ChangeConfirmIn(ChangeIn):
    """A previewed change to write and apply: the preview's stamp and checksum (refused, 409, if either moved)."""

    stamp: str = Field(max_length=80)
    checksum: str = Field(default="", max_length=80, description="empty when the preview had no plan")
    confirmed: str | None = Field(default=None, max_length=253, description="a removal: the domain's name again")


class ChangePreviewOut(BaseModel):
    """What a change would do: the plan of its domain alone (null when the providers hold nothing of a removed one)."""

    domain: str
    stamp: str
    checksum: str
    plan: dict[str, Any] | None
    spec: dict[str, Any]
    mailboxes: list[str]
    added: list[str]
    removed: list[str]
    deletes: list[str]
    unsafe: list[str]
    failed: list[str]


class RecordOut(BaseModel):
    """One DNS record."""

    name: str
    type: str
    ttl: int | None = None
    values: list[str]


class RecordsData(BaseModel):
    """A domain's desired records (and the live ones when asked for)."""

    domain: str
    desired: list[RecordOut]
    notes: list[str]
    drift: list[dict[str, Any]] | None = Field(
        default=None, description="with live=true: each change apply would make, `old` being what the provider holds"
    )
    live_error: str | None = None


class PlanOut(BaseModel):
    """A plan: its id (to apply it), checksum and changes (docs/plan-format.md)."""

    id: str
    checksum: str
    has_changes: bool
    summary: dict[str, int]
    plan: dict[str, Any]


class JobOut(BaseModel):
    """A background job."""

    id: str
    kind: str
    status: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    key_name: str
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class ChangeOut(BaseModel):
    """A written change: the domain's name, its kept plan and the apply job (both null when nothing was to apply)."""

    domain: str
    plan_id: str | None
    job: JobOut | None


class CheckStateOut(BaseModel):
    """The latest state of one (subject, check)."""

    subject: str
    check: str
    status: str
    since: str
    checked_at: str
    summary: str


class CheckStateList(BaseModel):
    """A page of current check states, by subject and check."""

    items: list[CheckStateOut]
    total: int
    limit: int
    offset: int


class CheckResultOut(BaseModel):
    """One stored check result."""

    subject: str
    check: str
    status: str
    checked_at: str
    findings: dict[str, Any]


class CheckResultList(BaseModel):
    """A page of one (subject, check)'s stored results, newest first."""

    items: list[CheckResultOut]
    total: int
    limit: int
    offset: int


class RunOut(BaseModel):
    """What one check run did."""

    family: str
    checks: list[str]
    subjects: int
    transitions: int


class CheckRunIn(Input):
    """Run one family of checks for one domain of the desired state now."""

    domain: str = Field(min_length=1, max_length=253)
    family: FamilyName = "dns"


class AuditIn(Input):
    """An ad-hoc audit of any domains' live DNS."""

    domains: list[DomainName] = Field(min_length=1, max_length=20)
    checks: list[CheckName] = Field(default_factory=list, max_length=20)
    selectors: list[str] = Field(default_factory=list, max_length=10)


class EventOut(BaseModel):
    """One entry of the audit log."""

    id: str
    topic: str
    source: str
    correlation_id: str | None
    payload: dict[str, Any]
    occurred_at: str


class EventList(BaseModel):
    """A page of the audit log, newest first."""

    items: list[EventOut]
    limit: int
    offset: int


class Liveness(BaseModel):
    """The process answers."""

    status: str


class Credential(BaseModel):
    """A mailbox's login (admin scope only)."""

    address: str
    password: str | None
    host: str


# --- DMARC and TLS reports (services/dmarc.py) ---------------------------------------------------


class DmarcTotalsOut(BaseModel):
    """Messages of one domain, sending source or reporting organisation, and its pass rates."""

    key: str
    messages: int
    dmarc_pass_rate: float
    spf_aligned_rate: float
    dkim_aligned_rate: float
    failing: int = Field(description="messages that failed DMARC")
    reverse_dns: str
    ours: bool = Field(description="a source IP of one of our servers")
    managed: bool = Field(
        default=True,
        description="domains: a domain of the desired state (or a subdomain of one); always true in other sections",
    )


class TlsTotalsOut(BaseModel):
    """SMTP TLS report sessions (RFC 8460) and failed sessions by result type."""

    successful_sessions: int
    failed_sessions: int
    failures_by_type: dict[str, int]


class DmarcSummaryOut(BaseModel):
    """What `email-infra dmarc summary --format json` prints."""

    domain: str | None
    since: str | None = Field(description="the first day counted (ISO date); null: all time")
    reports: int
    failure_reports: int
    domains: list[DmarcTotalsOut]
    sources: list[DmarcTotalsOut]
    organisations: list[DmarcTotalsOut]
    unknown_senders: list[str] = Field(description="sources that are not our servers, with messages failing DMARC")
    our_servers_failing: list[str]
    unmanaged_domains: list[str] = Field(
        default_factory=list, description="domains with reports that are not domains of the desired state"
    )
    tls: TlsTotalsOut


class DmarcDayOut(BaseModel):
    """One domain's pass rates on one day (the day a report's period begins)."""

    domain: str
    day: str
    messages: int
    dmarc_pass_rate: float
    spf_aligned_rate: float
    dkim_aligned_rate: float


class DmarcReportOut(BaseModel):
    """A stored aggregate report's metadata."""

    org: str
    report_id: str
    domain: str
    email: str
    schema_: str = Field(alias="schema", description="rfc7489, draft or rfc9990")
    begin: str
    end: str
    records: int
    messages: int
    origin: str
    ingested_at: str
    notes: list[str] = Field(
        default_factory=list,
        description="what was odd but stored: repaired XML, bytes after the gzip data, dates before DMARC existed",
    )

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class DmarcReportList(BaseModel):
    """A page of stored aggregate reports, newest period first."""

    items: list[DmarcReportOut]
    total: int
    limit: int
    offset: int


class IngestItemOut(BaseModel):
    """What became of one report document of the upload."""

    origin: str
    kind: str = Field(description="aggregate, tlsrpt, failure or unknown")
    status: Literal["ingested", "duplicate", "skipped"]
    reason: str = Field(description="why it was skipped")
    domain: str
    org: str
    report_id: str
    records: int
    messages: int
    managed: bool = Field(default=True, description="false: not a domain of the desired state (stored, marked)")
    notes: list[str] = Field(default_factory=list, description="what was odd but did not stop it being stored")


class IngestOut(BaseModel):
    """What `email-infra dmarc ingest --format json` prints for the uploaded file."""

    ingested: int
    duplicate: int
    skipped: int
    noted: int = Field(default=0, description="stored reports with notes")
    unmanaged: int = Field(default=0, description="stored reports of domains outside the desired state")
    items: list[IngestItemOut]
    sources_resolved: int
    alerts: list[dict[str, Any]]


class WorkspaceOut(BaseModel):
    """A workspace and what it holds."""

    name: str
    created_at: str
    domains: int
    mailboxes: int
    servers: int
    failing_checks: int
    api_keys: int


class WorkspaceList(BaseModel):
    """The workspaces the key may see: every one for an operator key, else its own."""

    items: list[WorkspaceOut]


class WorkspaceIn(Input):
    """A new, empty workspace."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=WORKSPACE_NAME_PATTERN,
        description="lowercase letters, digits and inner hyphens",
        examples=["acme"],
    )

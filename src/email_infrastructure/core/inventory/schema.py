"""Pydantic models of the inventory file (schema version 1)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from decimal import Decimal
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    model_validator,
)

from email_infrastructure.core.names import WORKSPACE_NAME_PATTERN, normalise_domain

SECRET_REF = re.compile(r"^env:([A-Za-z_][A-Za-z0-9_]*)$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration_seconds(value: Any) -> Any:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError("a duration is a number of seconds or like 15m, 6h, 1d")
        return int(match.group(1)) * _UNITS[match.group(2)]
    return value


DomainName = Annotated[str, AfterValidator(normalise_domain)]
Seconds = Annotated[int, BeforeValidator(_duration_seconds), Field(ge=60, le=7 * 86400)]
_LOCAL_PART = r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$"
_SERVER_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_MAILTO = r"^mailto:[^@\s,;!]+@[^@\s,;!]+$"
_LABEL = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"
_HTTP_URL = r"^https?://[^\s/]+\S*$"
_SELECTOR = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"
_TLS_RPT = r"^(mailto:|https://)\S+$"
_ENV = r"^env:[A-Za-z_][A-Za-z0-9_]*$"
_ANY_URL = r"^https?://\S+$"
#: a mailbox naming pattern: placeholders {first} {last} {f} {l} between letters, digits and . _ -
_PLACE = r"\{(?:first|last|f|l)\}"
_MAILBOX_PATTERN = rf"^(?:[a-z0-9._-]|{_PLACE})*{_PLACE}(?:[a-z0-9._-]|{_PLACE})*$"
#: what each pattern means, in our words: a pattern is no message for a person
PATTERN_MESSAGES: dict[str, str] = {
    _LOCAL_PART: "a mailbox local part is lowercase letters, digits and . _ + - (e.g. ann.lee)",
    _SERVER_NAME: "a server name is letters, digits and . _ - (e.g. mx1)",
    _MAILTO: "a report address is mailto:user@domain (e.g. mailto:dmarc@example.com)",
    _LABEL: "a host label is lowercase letters, digits and hyphens (e.g. track)",
    _HTTP_URL: "a redirect target is an http:// or https:// URL (e.g. https://www.example.com)",
    _SELECTOR: "a DKIM selector is lowercase letters, digits and hyphens (e.g. s2026)",
    _TLS_RPT: "a TLS-RPT address is mailto:user@domain or an https:// URL",
    _ENV: "credentials are references to environment variables: env:NAME",
    _ANY_URL: "an API address is an http:// or https:// URL",
    _MAILBOX_PATTERN: "a mailbox pattern uses {first}, {last}, {f}, {l} and . _ - (e.g. {first}.{last} or {f}{last})",
    WORKSPACE_NAME_PATTERN: "a workspace name is lowercase letters, digits and inner hyphens, 1 to 64 (e.g. acme-corp)",
}
LocalPart = Annotated[str, Field(pattern=_LOCAL_PART)]
#: a forwarding target's local part: what Mailcow's FILTER_VALIDATE_EMAIL takes, less quoting
_TARGET_LOCAL = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def _email_address(value: str) -> str:
    """`local@domain`, lowercased, the domain in its ASCII form (a local part of at most 64)."""
    local, at, domain = value.strip().lower().rpartition("@")
    if not at or not _TARGET_LOCAL.match(local) or len(local) > 64:
        raise ValueError(f"{value!r} is not an email address (like ann@example.com)")
    try:
        return f"{local}@{normalise_domain(domain)}"
    except ValueError:
        raise ValueError(f"{value!r} is not an email address: the part after @ is not a domain name") from None


EmailAddress = Annotated[str, AfterValidator(_email_address)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProviderSpec(BaseModel):
    """A named provider: its `type` plus type-specific settings (checked by its component)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: str = Field(min_length=1)

    @property
    def settings(self) -> dict[str, Any]:
        """The type-specific settings (every key but `type`)."""
        return dict(self.model_extra or {})


class ProvidersSpec(_Model):
    """Providers by kind, each keyed by the name the rest of the inventory uses."""

    dns: dict[str, ProviderSpec] = Field(default_factory=dict)
    mail: dict[str, ProviderSpec] = Field(default_factory=dict)
    vps: dict[str, ProviderSpec] = Field(default_factory=dict)
    #: sending platforms mailboxes are pushed to (Instantly, Smartlead, EmailBison, ReachInbox)
    sequencers: dict[str, ProviderSpec] = Field(default_factory=dict)
    #: registrar accounts domains are bought at and delegated from (Porkbun, Namecheap)
    registrars: dict[str, ProviderSpec] = Field(default_factory=dict)


class ServerSpec(_Model):
    """A mail server: created by a VPS provider, or an existing one given by its addresses."""

    name: str = Field(min_length=1, pattern=_SERVER_NAME)
    hostname: DomainName
    provider: str | None = None
    size: str | None = None
    region: str | None = None
    image: str | None = None
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    mail_backend: str | None = None
    #: outbound port 25 as the user knows it (a support ticket, a probe); unset: what we recorded
    port25: Literal["unknown", "blocked", "open"] | None = None
    #: addresses allowed to use the Mailcow API of a server we create (its `API_ALLOW_FROM`)
    api_allow_from: list[IPv4Network | IPv6Network] = Field(default_factory=list, max_length=32)
    #: the server's time zone (Mailcow's `MAILCOW_TZ`)
    timezone: str = Field(default="UTC", pattern=r"^[A-Za-z_]+(?:/[A-Za-z0-9_+-]+){0,2}$")

    @model_validator(mode="after")
    def _existing_or_created(self) -> ServerSpec:
        if self.provider is None and self.ipv4 is None and self.ipv6 is None:
            raise ValueError("a server without a VPS provider needs ipv4 or ipv6")
        if self.provider is not None and not (self.size and self.region):
            raise ValueError("a server created by a VPS provider needs size and region")
        return self

    @property
    def ips(self) -> list[str]:
        """Known sending addresses (IPv4 first)."""
        return [str(ip) for ip in (self.ipv4, self.ipv6) if ip is not None]


class DmarcSpec(_Model):
    """The DMARC policy to publish (RFC 7489 / RFC 9989 tags)."""

    policy: Literal["none", "quarantine", "reject"] = "none"
    subdomain_policy: Literal["none", "quarantine", "reject"] | None = None
    rua: list[Annotated[str, Field(pattern=_MAILTO)]] = Field(default_factory=list)
    ruf: list[Annotated[str, Field(pattern=_MAILTO)]] = Field(default_factory=list)
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    testing: bool = False


class TrackingSpec(_Model):
    """A sending platform's tracking CNAME; host/target default from the platform."""

    platform: str | None = None
    host: str | None = Field(default=None, pattern=_LABEL)
    target: DomainName | None = None

    @model_validator(mode="after")
    def _platform_or_target(self) -> TrackingSpec:
        if self.platform is None and (self.host is None or self.target is None):
            raise ValueError("tracking needs a platform, or both host and target")
        return self


class MtaStsSpec(_Model):
    """MTA-STS policy settings (RFC 8461)."""

    enabled: bool = False
    mode: Literal["enforce", "testing", "none"] = "testing"
    max_age: int = Field(default=604800, ge=0, le=31557600)


class SequencerUseSpec(_Model):
    """A sequencer a mailbox is pushed to, with its sending settings there (None: the platform's own)."""

    #: the sequencer's name under `providers.sequencers`
    name: str = Field(min_length=1, max_length=64)
    #: sends per day; default: the domain's `daily_send_limit`
    daily_limit: int | None = Field(default=None, ge=1, le=2000)
    warmup: bool | None = None
    warmup_per_day: int | None = Field(default=None, ge=1, le=200)
    #: the daily step of a slow ramp-up
    ramp_up: int | None = Field(default=None, ge=0, le=100)
    #: warmup reply rate in percent
    reply_rate: int | None = Field(default=None, ge=0, le=100)
    #: the tracking host; default: the domain's tracking CNAME when it has one
    tracking_domain: DomainName | None = None
    signature: str | None = Field(default=None, max_length=10_000)
    #: minutes between sends
    sending_gap: int | None = Field(default=None, ge=0, le=1440)
    tags: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(default_factory=list, max_length=20)

    @model_validator(mode="before")
    @classmethod
    def _by_name(cls, data: Any) -> Any:
        # `sequencers: [instantly]` is short for `sequencers: [{name: instantly}]`
        return {"name": data} if isinstance(data, str) else data


#: money in the registrar's currency (USD): at most 2 decimals, never float arithmetic
Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]


class RegisterSpec(_Model):
    """Buy the domain at its `registrar` (only `apply --buy` spends money, within `max_price` and the budget)."""

    years: int = Field(default=1, ge=1, le=10)
    auto_renew: bool = True
    #: WHOIS privacy (free at Porkbun and Namecheap)
    privacy: bool = True
    #: the most this one domain may cost for its first term; absent: only the run's budget caps it
    max_price: Money | None = None


class MailboxSpec(_Model):
    """A persona whose mailbox is created on the domain."""

    first_name: str = Field(min_length=1, max_length=64)
    last_name: str = Field(min_length=1, max_length=64)
    local_part: LocalPart | None = None
    #: the sequencers this mailbox goes to, replacing the domain's (an empty list: none)
    sequencers: list[SequencerUseSpec] | None = None

    @property
    def address_local_part(self) -> str:
        """The declared local part, or `first.last` folded to ASCII."""
        if self.local_part:
            return self.local_part
        return f"{_ascii_slug(self.first_name)}.{_ascii_slug(self.last_name)}"


def _ascii_slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "", folded.lower()) or "x"


def _one_or_many(value: Any) -> Any:
    """`a@x.test` is short for `[a@x.test]`."""
    return [value] if isinstance(value, str) else value


def _unique(values: list[str]) -> list[str]:
    """The targets in their order, each once."""
    return list(dict.fromkeys(values))


#: where a forward or a catch-all delivers: one address or a list (max 20, each once)
Targets = Annotated[
    list[EmailAddress],
    BeforeValidator(_one_or_many),
    Field(min_length=1, max_length=20),
    AfterValidator(_unique),
]


class ForwardingSpec(_Model):
    """Mail forwarding on the domain's mail server: a catch-all and forwarded local parts (aliases)."""

    #: where mail to any address of the domain that is no mailbox or forward goes (None: bounced)
    catch_all: Targets | None = None
    #: local part → where its mail goes (the local part must not be a mailbox)
    addresses: dict[LocalPart, Targets] = Field(default_factory=dict, max_length=200)


class _DomainOptions(_Model):
    """Settings a domain inherits from `defaults` and may override."""

    dns_provider: str | None = None
    server: str | None = None
    dmarc: DmarcSpec | None = None
    tracking: TrackingSpec | None = None
    redirect: Annotated[str, Field(pattern=_HTTP_URL)] | None = None
    spf_includes: list[DomainName] | None = None
    spf_all: Literal["-all", "~all"] | None = None
    dkim_selector: Annotated[str, Field(pattern=_SELECTOR)] | None = None
    mta_sts: MtaStsSpec | None = None
    tls_rpt: list[Annotated[str, Field(pattern=_TLS_RPT)]] | None = None
    daily_send_limit: int | None = Field(default=None, ge=1, le=2000)
    ttl: int | None = Field(default=None, ge=60, le=86400)
    #: how generated mailboxes are named from the built-in persona list (mailcow/naming.py)
    mailbox_pattern: Annotated[str, Field(pattern=_MAILBOX_PATTERN)] | None = None
    #: the sequencers the domain's mailboxes are pushed to, each with its sending settings
    sequencers: list[SequencerUseSpec] | None = None
    #: a catch-all and forwarding addresses on the mail server (a domain's block replaces the defaults')
    forwarding: ForwardingSpec | None = None
    #: the registrar account the domain is (or is to be) registered at (`providers.registrars`)
    registrar: str | None = None
    #: `register:` in a file: buy it there; absent: registered already (nameservers set and watched only).
    #: Named `registration` in Python (pydantic's models have a `register` of their own); both names load.
    registration: RegisterSpec | None = Field(default=None, validation_alias=AliasChoices("register", "registration"))


#: the options a domain inherits from `defaults`
DOMAIN_OPTIONS: tuple[str, ...] = tuple(_DomainOptions.model_fields)


class DefaultsSpec(_DomainOptions):
    """Fleet-wide defaults."""

    mailboxes_per_domain: int = Field(default=3, ge=0, le=50)
    #: the most one `apply --buy` may spend on all its purchases together (`--budget` overrides)
    register_budget: Money | None = None


class DomainSpec(_DomainOptions):
    """A sending domain."""

    name: DomainName
    purge: bool = False
    mailboxes: list[MailboxSpec] = Field(default_factory=list)
    #: how many mailboxes to generate when `mailboxes` lists nobody (default: defaults.mailboxes_per_domain)
    mailbox_count: int | None = Field(default=None, ge=0, le=50)


class SinkSpec(BaseModel):
    """An alert sink (slack, webhook, email) and its settings."""

    model_config = ConfigDict(extra="allow", frozen=True)

    type: Literal["slack", "webhook", "email"]
    name: str | None = None

    @property
    def settings(self) -> dict[str, Any]:
        """The type-specific settings."""
        return dict(self.model_extra or {})


class IntervalsSpec(_Model):
    """How often each family of checks runs."""

    dns: Seconds = 900
    blacklist: Seconds = 3600
    tls: Seconds = 21600
    ptr: Seconds = 3600
    #: SMTP and IMAP logins of every mailbox on a mail backend (`email-infra mailbox check`)
    mailbox: Seconds = 3600
    #: each sequencer's health of our mailboxes (one read per sequencer per run)
    sequencer: Seconds = 3600
    #: RDAP: age, expiry and holds change by the day, and registries rate-limit per source IP
    registration: Seconds = 86400
    #: the parent's referral and our nameservers' SOA: a few queries per domain, and a lost
    #: delegation takes the domain's mail with it
    delegation: Seconds = 3600


class DmarcAlertsSpec(_Model):
    """When DMARC pass rates alert (a workspace's own); unset fields use the settings' EMAIL_INFRA_DMARC_*."""

    pass_rate_threshold: float | None = Field(default=None, ge=0, le=1)
    window_days: int | None = Field(default=None, ge=1, le=366)
    min_messages: int | None = Field(default=None, ge=1)


class MonitoringSpec(_Model):
    """Monitoring settings."""

    intervals: IntervalsSpec = Field(default_factory=IntervalsSpec)
    #: `blocklists` in the docs; `blacklists` (the first name) is kept as an alias
    blacklists: list[DomainName] | None = Field(default=None, validation_alias=AliasChoices("blocklists", "blacklists"))
    nameservers: list[str] = Field(default_factory=list)
    #: days a domain should be registered before cold sending (operating-defaults.md: warn if < 30)
    min_domain_age_days: int = Field(default=30, ge=1, le=3650)
    spamhaus_dqs_key: str | None = None
    alert_sinks: list[SinkSpec] = Field(default_factory=list)
    dmarc_alerts: DmarcAlertsSpec = Field(default_factory=DmarcAlertsSpec)


class ResolvedDomain(_Model):
    """A domain with every default applied: what the components act on."""

    name: str
    dns_provider: str | None
    server: ServerSpec | None
    dmarc: DmarcSpec
    tracking: TrackingSpec | None
    redirect: str | None
    spf_includes: list[str]
    spf_all: Literal["-all", "~all"]
    dkim_selector: str
    mta_sts: MtaStsSpec
    tls_rpt: list[str]
    daily_send_limit: int
    ttl: int
    purge: bool
    mailboxes: list[MailboxSpec]
    mailbox_pattern: str = "{first}.{last}"
    sequencers: list[SequencerUseSpec] = Field(default_factory=list)
    #: mailboxes to generate when `mailboxes` is empty
    mailbox_count: int = 3
    forwarding: ForwardingSpec = Field(default_factory=ForwardingSpec)
    registrar: str | None = None
    registration: RegisterSpec | None = None


class Inventory(_Model):
    """The whole inventory file."""

    version: Literal[1]
    #: the workspace the file writes into (a client of an agency); absent: the one the command acts in
    workspace: str | None = Field(default=None, pattern=WORKSPACE_NAME_PATTERN)
    providers: ProvidersSpec = Field(default_factory=ProvidersSpec)
    servers: list[ServerSpec] = Field(default_factory=list)
    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    domains: list[DomainSpec] = Field(default_factory=list)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    _server_index: dict[str, ServerSpec] | None = PrivateAttr(default=None)

    def server(self, name: str) -> ServerSpec | None:
        """The server declared under `name`."""
        return self._servers_by_name().get(name)

    def _servers_by_name(self) -> dict[str, ServerSpec]:
        # Built once per (frozen) inventory: resolving 10,000 domains scanned every server for each.
        if self._server_index is None:
            self._server_index = {s.name: s for s in self.servers}
        return self._server_index

    def with_addresses(self, addresses: Mapping[str, tuple[str | None, str | None]]) -> Inventory:
        """A copy in which the named servers have these (IPv4, IPv6) addresses (a VPS provider's)."""
        servers = [
            s.model_copy(
                update={
                    "ipv4": IPv4Address(a[0]) if a[0] else None,
                    "ipv6": IPv6Address(a[1]) if a[1] else None,
                }
            )
            if (a := addresses.get(s.name)) is not None
            else s
            for s in self.servers
        ]
        copy = self.model_copy(update={"servers": servers})
        copy._server_index = None
        return copy

    def resolve(self, domain: DomainSpec) -> ResolvedDomain:
        """Apply `defaults` to one domain."""
        d, base = domain, self.defaults

        def pick(field: str, fallback: Any) -> Any:
            value = getattr(d, field)
            if value is None:
                value = getattr(base, field)
            return fallback if value is None else value

        server_name = pick("server", None)
        return ResolvedDomain(
            name=d.name,
            dns_provider=pick("dns_provider", None),
            server=self.server(server_name) if server_name else None,
            dmarc=pick("dmarc", DmarcSpec()),
            tracking=pick("tracking", None),
            redirect=pick("redirect", None),
            spf_includes=pick("spf_includes", []),
            spf_all=pick("spf_all", "-all"),
            dkim_selector=pick("dkim_selector", "dkim"),
            mta_sts=pick("mta_sts", MtaStsSpec()),
            tls_rpt=pick("tls_rpt", []),
            daily_send_limit=pick("daily_send_limit", 30),
            ttl=pick("ttl", 3600),
            purge=d.purge,
            mailboxes=list(d.mailboxes),
            mailbox_pattern=pick("mailbox_pattern", "{first}.{last}"),
            mailbox_count=d.mailbox_count if d.mailbox_count is not None else base.mailboxes_per_domain,
            sequencers=pick("sequencers", []),
            forwarding=pick("forwarding", ForwardingSpec()),
            registrar=pick("registrar", None),
            registration=pick("registration", None),
        )

    def resolved_domains(self) -> list[ResolvedDomain]:
        """Every domain with defaults applied, in file order."""
        return [self.resolve(d) for d in self.domains]

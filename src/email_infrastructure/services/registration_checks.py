"""The `registration` (RDAP) and `delegation` (the parent's referral) families for the watched domains.

Neither is an audit check: they need what an audit of any domain does not have — the RDAP client, the
inventory's renewal settings, the DNS provider's nameservers, the desired state's change times — so
the monitor runs them here, as it runs `mailbox` (services/monitoring.py), and their results get the
same history, state changes and alerts as every other family.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
from email_infrastructure.monitoring.checks.delegation import (
    DelegationOptions,
    DelegationTarget,
    check_delegation,
    host,
)
from email_infrastructure.monitoring.checks.registration import MIN_AGE_DAYS, RegistrationTarget, check_registration
from email_infrastructure.services.app import App

if TYPE_CHECKING:
    from email_infrastructure.core.component import Health
    from email_infrastructure.core.inventory import Inventory
    from email_infrastructure.core.inventory.schema import ResolvedDomain
    from email_infrastructure.registrars.rdap import RdapClient

#: the desired-state events after which a different delegation is "pending", not wrong: the domain
#: added or edited (its DNS provider may have changed), and every registrar event (the registrar
#: steps' purchases and nameserver changes name the domain in their payload's `domain`)
CHANGE_TOPICS = ("desired.domain.created", "desired.domain.updated")
CHANGE_PREFIX = "registrar."
#: how far back a change can still be pending: .com's NS TTL is 48 h (registrars.md §7)
PENDING_LOOKBACK = timedelta(days=2)
#: RDAP lookups at once: registries limit per source IP (~1/s is what operators plan for, §6.4)
RDAP_CONCURRENCY = 2
#: domains whose delegation is checked at once: each asks a few servers on sockets of its own
DELEGATION_CONCURRENCY = 32


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class DomainCheckOptions:
    """How the two families reach the outside (tests point them at loopback servers)."""

    #: builds the RDAP client of a run (default: `RdapClient.from_env` with the data dir's cache)
    rdap: Callable[[], RdapClient] | None = None
    delegation: DelegationOptions = field(default_factory=DelegationOptions)
    now: Callable[[], datetime] = _now


def auto_renew(domain: ResolvedDomain) -> bool | None:
    """The inventory's `register: {auto_renew: …}`, read defensively (the registrar schema is another change's:
    `registration` in Python, `register` in a file); None when the domain declares no purchase."""
    register: Any = getattr(domain, "registration", None) or getattr(domain, "register", None)
    value = register.get("auto_renew") if isinstance(register, dict) else getattr(register, "auto_renew", None)
    return value if isinstance(value, bool) else None


def min_age_days(inventory: Inventory) -> int:
    """The inventory's `monitoring.min_domain_age_days` (operating-defaults.md's 30 when not set)."""
    value = getattr(inventory.monitoring, "min_domain_age_days", None)
    return value if isinstance(value, int) and value > 0 else MIN_AGE_DAYS


def _domains(inventory: Inventory, names: Sequence[str]) -> list[ResolvedDomain]:
    wanted = set(names)
    return [d for d in inventory.resolved_domains() if not wanted or d.name in wanted]


async def registration_report(
    app: App, inventory: Inventory, names: Sequence[str], options: DomainCheckOptions
) -> AuditReport:
    """`registration` and `expiry` of each watched domain, from one RDAP lookup each."""
    from email_infrastructure.registrars.rdap import RdapClient

    domains = _domains(inventory, names)
    if not domains:
        return AuditReport([], [])
    client = options.rdap() if options.rdap else RdapClient.from_env(cache_dir=app.settings.data_dir / "cache")
    gate = asyncio.Semaphore(RDAP_CONCURRENCY)
    minimum = min_age_days(inventory)

    async def one(domain: ResolvedDomain) -> SubjectReport:
        async with gate:
            lookup = await client.lookup(domain.name)
        target = RegistrationTarget(domain.name, auto_renew(domain), minimum)
        return SubjectReport(domain.name, dict(check_registration(target, lookup, options.now())))

    async with client:
        reports = await asyncio.gather(*(one(d) for d in domains))
    return AuditReport(list(reports), [])


async def desired_nameservers(app: App, inventory: Inventory, domains: Sequence[ResolvedDomain]) -> dict[str, Any]:
    """Domain → its DNS provider's nameservers (a tuple), or the sentence saying why they are not known."""
    from email_infrastructure.dns.providers import build_provider

    found: dict[str, Any] = {}
    built: dict[str, Any] = {}
    try:
        for domain in domains:
            spec = inventory.providers.dns.get(domain.dns_provider or "")
            if spec is None:
                found[domain.name] = f"{domain.name} has no DNS provider in the inventory"
                continue
            if domain.dns_provider not in built:
                built[domain.dns_provider or ""] = build_provider(
                    domain.dns_provider or "", spec, app.settings.data_dir, limiters=app.rate_limiters
                )
            try:
                hosts = await built[domain.dns_provider or ""].nameservers(domain.name)
                found[domain.name] = tuple(sorted({host(h) for h in hosts if h}))
            except EmailInfraError as exc:
                found[domain.name] = f"the DNS provider {domain.dns_provider} could not say: {exc}"
    finally:
        for provider in built.values():
            await provider.close()
    return found


async def change_times(app: App, names: Sequence[str], now: datetime) -> dict[str, datetime]:
    """Domain → the newest event that may have changed its desired delegation (within PENDING_LOOKBACK)."""
    if not app.has_state() or not names:
        return {}
    from sqlalchemy import or_, select

    from email_infrastructure.storage.models import EventRecord

    wanted = set(names)
    query = select(EventRecord.payload, EventRecord.occurred_at).where(
        EventRecord.occurred_at >= now - PENDING_LOOKBACK,
        or_(EventRecord.topic.in_(CHANGE_TOPICS), EventRecord.topic.startswith(CHANGE_PREFIX)),
    )
    found: dict[str, datetime] = {}
    async with app.uow() as uow:
        for payload, occurred in (await uow.session.execute(query)).all():
            named = str((payload or {}).get("domain") or (payload or {}).get("name") or "").lower()
            if named in wanted and (named not in found or occurred > found[named]):
                found[named] = occurred
    return found


async def delegation_report(
    app: App, inventory: Inventory, names: Sequence[str], nameservers: list[str], options: DomainCheckOptions
) -> AuditReport:
    """`delegation` of each watched domain: the parent's referral against the DNS provider's nameservers."""
    from email_infrastructure.monitoring.resolver import Resolver

    domains = _domains(inventory, names)
    if not domains:
        return AuditReport([], [])
    now = options.now()
    desired = await desired_nameservers(app, inventory, domains)
    changed = await change_times(app, [d.name for d in domains], now)
    resolver = Resolver.from_strings(nameservers, timeout=options.delegation.timeout)

    gate = asyncio.Semaphore(DELEGATION_CONCURRENCY)

    async def one(domain: ResolvedDomain) -> SubjectReport:
        wanted = desired.get(domain.name)
        target = DelegationTarget(domain.name, wanted if isinstance(wanted, tuple) else (), changed.get(domain.name))
        async with gate:
            result = await check_delegation(target, resolver, options.delegation, now)
        if isinstance(wanted, str):
            result.info("delegation.no_desired", wanted)
        return SubjectReport(domain.name, {"delegation": result})

    try:
        reports = await asyncio.gather(*(one(d) for d in domains))
    finally:
        await resolver.close()
    return AuditReport(list(reports), [])


#: the checks `status` summarises in its `registration` line
STATUS_CHECKS = ("registration", "expiry", "delegation")


async def registration_health(app: App, inventory: Inventory | None) -> Health:
    """`status`'s line for registrations and delegations, from the stored states: errors make it degraded.

    A domain younger than the recommended minimum is a warning here, named with its age.
    """
    from email_infrastructure.core.component import Health, HealthStatus

    if inventory is None or not inventory.domains:
        return Health(HealthStatus.UNCONFIGURED, "no domains to watch")
    never = "never checked (`email-infra monitor --once --family registration --family delegation`)"
    if not app.has_state():
        return Health(HealthStatus.UNKNOWN, never)
    names = {d.name for d in inventory.domains}
    async with app.uow() as uow:
        stored = await uow.checks.states()
    states = [s for s in stored if s.check in STATUS_CHECKS and s.subject in names]
    if not states:
        return Health(HealthStatus.UNKNOWN, never)
    bad = sorted(
        (s.status != "error", s.subject, s.check, s.summary) for s in states if s.status in ("error", "warning")
    )
    lines = [f"{subject} {check}: {summary}" for _, subject, check, summary in bad]
    shown = "; ".join(lines[:5]) + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
    if any(s.status == "error" for s in states):
        return Health(HealthStatus.DEGRADED, shown)
    checked = len({s.subject for s in states})
    return Health(HealthStatus.OK, shown or f"{checked} domain(s) registered and delegated as desired")

"""Audits: the live DNS of any domain, or of the desired state's (or a file's) domains. Writes nothing."""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.monitoring.audit import (
    ALL_CHECKS,
    DEFAULT_CHECKS,
    DEFAULT_DEADLINE,
    AuditReport,
    AuditSummary,
    Emit,
    IpGate,
    audit,
    audit_stream,
)
from email_infrastructure.monitoring.context import AuditContext, DomainProbe, DomainTarget
from email_infrastructure.monitoring.dnsbl import Blocklist, BlocklistReport, blocklist_report, resolve_zones
from email_infrastructure.monitoring.resolver import Resolver
from email_infrastructure.services.app import App

if TYPE_CHECKING:
    # the inventory's schema (pydantic) is imported where an inventory is read, not by every audit
    from email_infrastructure.core.inventory import Inventory, LoadedInventory


@dataclass
class AuditRequest:
    """What to audit and how; empty `domains` with an inventory means all of its domains."""

    domains: list[str] = field(default_factory=list)
    #: audit this file's domains (with their selectors, IPs, keys and desired records); without it
    #: the stored desired state is the inventory: its domains (all of them when none is named)
    #: with their desired records (drift), its `monitoring` nameservers and blocklists
    source: LoadedInventory | None = None
    nameservers: list[str] = field(default_factory=list)
    selectors: list[str] = field(default_factory=list)
    checks: set[str] = field(default_factory=lambda: set(DEFAULT_CHECKS))
    zones: list[str] = field(default_factory=list)
    dqs_key_env: str | None = None
    concurrency: int = 200
    #: seconds one DNS query may take, retries included (the resolver's `timeout`)
    timeout: float = 2.0
    #: seconds one domain's checks may take in all
    deadline: float = DEFAULT_DEADLINE


@dataclass
class AuditPlan:
    """Targets, resolver settings and blocklists for an audit or a monitoring run."""

    targets: list[DomainTarget]
    nameservers: list[str]
    zones: list[Blocklist]
    timeout: float = 2.0
    deadline: float = DEFAULT_DEADLINE
    #: where RDAP's bootstrap file is cached (`<data dir>/cache`), and the inventory's minimum domain age
    cache_dir: Path | None = None
    min_age_days: int = 30


#: the opt-in checks that reach registries (RDAP) and the TLD's servers: they need a `DomainProbe`
PROBE_CHECKS = frozenset({"registration", "expiry", "delegation"})
#: other names people use for a check: `blocklist` is the word of the README and the docs
CHECK_ALIASES = {"blocklist": "dnsbl", "blacklist": "dnsbl"}


def domain_names(names: list[str]) -> list[str]:
    """Normalised domain names, or a UserError naming the bad one."""
    try:
        return [normalise_domain(d) for d in names]
    except ValueError as exc:
        raise UserError(str(exc)) from None


def check_names(names: set[str]) -> set[str]:
    """The checks asked for (aliases resolved), refusing unknown names."""
    names = {CHECK_ALIASES.get(n, n) for n in names}
    unknown = names - set(ALL_CHECKS)
    if unknown:
        raise UserError(f"unknown checks: {', '.join(sorted(unknown))} (known: {', '.join(ALL_CHECKS)})")
    return names or set(DEFAULT_CHECKS)


def nameservers_for(app: App, explicit: list[str], inventory: Inventory | None) -> list[str]:
    """--nameserver, else the inventory's, else EMAIL_INFRA_NAMESERVERS, else the system's (empty)."""
    return explicit or (inventory.monitoring.nameservers if inventory else []) or app.settings.nameservers


def dqs_key(env_name: str | None, inventory: Inventory | None) -> str | None:
    """The Spamhaus DQS key: from a named variable, else the inventory's `env:` reference."""
    ref = f"env:{env_name}" if env_name else inventory.monitoring.spamhaus_dqs_key if inventory else None
    if not ref:
        return None
    from email_infrastructure.core.inventory.loader import resolve_secret  # the schema: only when a key is asked

    return resolve_secret(ref)


def zones_for(explicit: list[str], dqs_key_env: str | None, inventory: Inventory | None) -> list[Blocklist]:
    """--zones, else the inventory's `monitoring.blacklists`, else the curated lists; DQS applied."""
    names = explicit or ([str(z) for z in inventory.monitoring.blacklists or []] if inventory else [])
    return resolve_zones(names, dqs_key=dqs_key(dqs_key_env, inventory))


async def targets_of(app: App, inventory: Inventory, only: list[str]) -> list[DomainTarget]:
    """One target per inventory domain, with the DKIM keys the vault holds (read, never created)."""
    from email_infrastructure.core.rsa_keys import public_key_b64
    from email_infrastructure.core.secret_names import dkim_key
    from email_infrastructure.dns.desired import desired_zones
    from email_infrastructure.monitoring.targets import inventory_targets, plain_target

    domains = inventory.resolved_domains()
    from email_infrastructure.services.context import AppContext

    stored = await AppContext(app).secrets([dkim_key(d.name, d.dkim_selector) for d in domains])
    keys: dict[str, str | None] = {}
    for d in domains:
        private = stored.get(dkim_key(d.name, d.dkim_selector))
        keys[d.name] = public_key_b64(private) if private else None
    targets = inventory_targets(inventory, desired_zones(inventory, keys), keys)
    if only:
        known = {t.name for t in targets}
        targets = [t for t in targets if t.name in only] + [plain_target(d, None) for d in only if d not in known]
    return targets


def nothing_stored(app: App) -> bool:
    """True when the default SQLite file does not exist yet: no stored state to read.

    Decided without importing the storage layer (SQLAlchemy, the models): an audit or a blocklist
    lookup on a fresh install skips that start-up cost. Any other database: False, and
    `stored_inventory` decides (`App.has_state`).
    """
    settings = app.settings
    return not settings.database_url and not (settings.data_dir / "email-infra.db").exists()


async def inventory_for(app: App, source: LoadedInventory | None, names: list[str]) -> Inventory | None:
    """The file's inventory, else the stored desired state (just `names` when given), else None.

    The one place every audit, monitoring run and re-check gets what it compares with and where
    its resolver and blocklists come from, so the CLI, the API, the dashboard and the workers agree.
    """
    if source is not None:
        return source.inventory
    if nothing_stored(app):
        return None
    from email_infrastructure.services.desired import stored_inventory

    return await stored_inventory(app, only=names or None)


async def prepare(app: App, request: AuditRequest) -> AuditPlan:
    """Resolve targets, nameservers and blocklists for a request."""
    from email_infrastructure.monitoring.targets import plain_target

    names = domain_names(request.domains)
    inventory = await inventory_for(app, request.source, names)
    if inventory is None and not names:
        raise UserError("name at least one domain, or give an inventory with -f (nothing is stored yet)")
    if inventory is not None:
        targets = await targets_of(app, inventory, names)
        if request.selectors:
            for t in targets:
                t.selectors, t.selectors_declared = list(request.selectors), True
    else:
        targets = [plain_target(d, request.selectors or None) for d in names]
    return AuditPlan(
        targets,
        nameservers_for(app, request.nameservers, inventory),
        zones_for(request.zones, request.dqs_key_env, inventory),
        timeout=request.timeout,
        deadline=request.deadline,
        cache_dir=app.settings.data_dir / "cache",
        min_age_days=inventory.monitoring.min_domain_age_days if inventory is not None else 30,
    )


@contextlib.asynccontextmanager
async def _probe(plan: AuditPlan, checks: set[str]) -> AsyncIterator[DomainProbe | None]:
    """The RDAP client and delegation options of a run that asks for them (closed after it); else None."""
    if not checks & PROBE_CHECKS:
        yield None
        return
    from email_infrastructure.monitoring.checks.delegation import DelegationOptions
    from email_infrastructure.registrars.rdap import RdapClient

    async with RdapClient.from_env(cache_dir=plan.cache_dir) as client:
        yield DomainProbe(client, DelegationOptions(), plan.min_age_days)


@contextlib.asynccontextmanager
async def _resolver(nameservers: list[str], timeout: float) -> AsyncIterator[Resolver]:
    resolver = Resolver.from_strings(nameservers, timeout=timeout)
    try:
        yield resolver
    finally:
        await resolver.close()


async def run_audit(
    plan: AuditPlan, checks: set[str], *, concurrency: int = 200, ip_gate: IpGate | None = None
) -> AuditReport:
    """Run the checks of an audit plan on a fresh resolver (`ip_gate`: which IPs get theirs)."""
    async with _resolver(plan.nameservers, plan.timeout) as resolver, _probe(plan, checks) as probe:
        return await audit(
            plan.targets,
            AuditContext(resolver, probe=probe),
            checks,
            plan.zones,
            concurrency=concurrency,
            deadline=plan.deadline,
            ip_gate=ip_gate,
        )


async def audit_domains(app: App, request: AuditRequest) -> AuditReport:
    """Audit; reads the stored state at most, writes nothing (no database, no key, no file)."""
    checks = check_names(set(request.checks))
    return await run_audit(await prepare(app, request), checks, concurrency=request.concurrency)


async def stream_audit(app: App, request: AuditRequest, emit: Emit) -> AuditSummary:
    """Audit, handing each domain's (then each IP's) report to `emit` as it completes; keeps none."""
    checks = check_names(set(request.checks))
    plan = await prepare(app, request)
    async with _resolver(plan.nameservers, plan.timeout) as resolver, _probe(plan, checks) as probe:
        return await audit_stream(
            plan.targets,
            AuditContext(resolver, probe=probe),
            checks,
            plan.zones,
            emit,
            concurrency=request.concurrency,
            deadline=plan.deadline,
        )


@dataclass
class BlocklistRequest:
    """IPs and domains to look up; lists and nameservers from the options, else the inventory's."""

    targets: list[str] = field(default_factory=list)
    source: LoadedInventory | None = None
    nameservers: list[str] = field(default_factory=list)
    zones: list[str] = field(default_factory=list)
    dqs_key_env: str | None = None
    timeout: float = 2.0


def _subjects(targets: list[str]) -> list[str]:
    subjects = []
    for target in targets:
        try:
            subjects.append(str(ipaddress.ip_address(target)))
        except ValueError:
            try:
                subjects.append(normalise_domain(target))
            except ValueError as exc:
                raise UserError(f"{target!r} is neither an IP address nor a domain: {exc}") from None
    return subjects


async def _stored_settings(app: App) -> Inventory | None:
    if nothing_stored(app):
        return None
    from email_infrastructure.services.desired import stored_inventory

    return await stored_inventory(app, only=[])


async def blocklist_lookup(app: App, request: BlocklistRequest) -> BlocklistReport:
    """IPs and domains on DNS blocklists, each list self-tested (nothing asked of a silent resolver)."""
    subjects = _subjects(request.targets)
    if not subjects:
        raise UserError("name at least one IP address or domain")
    # the stored fleet settings only (its domains are not needed): its nameservers and blocklists
    inventory = request.source.inventory if request.source else await _stored_settings(app)
    zones = zones_for(request.zones, request.dqs_key_env, inventory)
    async with _resolver(nameservers_for(app, request.nameservers, inventory), request.timeout) as resolver:
        return await blocklist_report(resolver, subjects, zones)


async def audit_ip(app: App, ip: str, *, timeout: float = 2.0) -> AuditReport:
    """One IP as an audit checks a sending IP: PTR with forward confirmation, and the blocklists.

    Nameservers and lists as every audit takes them (the stored `monitoring` settings, else the
    server's); `ip` must already be an address.
    """
    from email_infrastructure.monitoring.audit import SubjectReport, guarded
    from email_infrastructure.monitoring.checks.ptr import check_ptr
    from email_infrastructure.monitoring.dnsbl import check_blocklists, listing_result
    from email_infrastructure.monitoring.findings import CheckResult

    address = str(ipaddress.ip_address(ip))
    inventory = await _stored_settings(app)
    zones = [z for z in zones_for([], None, inventory) if z.kind == "ip"]  # domain lists do not list IPs
    report = SubjectReport(address, kind="ip")
    async with _resolver(nameservers_for(app, [], inventory), timeout) as resolver:
        silent = await resolver.silence()
        if silent is not None:
            for check in ("ptr", "dnsbl"):
                result = report.checks[check] = CheckResult(check)
                result.cannot_tell(f"{check}.resolver_silent", f"not determined: {silent}")
            return AuditReport([], [report], [], silent)
        report.checks["ptr"] = await guarded("ptr", address, check_ptr(address, AuditContext(resolver), None))
        listings, health = await check_blocklists(resolver, [address], zones) if zones else ([], [])
        report.checks["dnsbl"] = listing_result(address, listings)
    return AuditReport([], [report], health)

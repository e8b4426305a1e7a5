"""The audit engine: every check of every domain and sending IP, concurrently, on one resolver."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.monitoring.checks.compliance import compliance
from email_infrastructure.monitoring.checks.delegation import audit_delegation
from email_infrastructure.monitoring.checks.dkim import check_dkim
from email_infrastructure.monitoring.checks.dmarc import check_dmarc
from email_infrastructure.monitoring.checks.drift import check_drift
from email_infrastructure.monitoring.checks.mta_sts import check_bimi, check_mta_sts, check_tls_rpt
from email_infrastructure.monitoring.checks.mx import check_mx
from email_infrastructure.monitoring.checks.ptr import check_ptr
from email_infrastructure.monitoring.checks.registration import audit_registration
from email_infrastructure.monitoring.checks.spf import check_spf, spf_records
from email_infrastructure.monitoring.checks.tls import check_tls
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.dnsbl import (
    Blocklist,
    ListingResult,
    ZoneHealth,
    listing_result,
    lookup,
    self_tests,
    zone_json,
)
from email_infrastructure.monitoring.findings import CheckResult, CheckStatus, worst

_log = logging.getLogger(__name__)

ALL_CHECKS = (
    "spf",
    "dkim",
    "dmarc",
    "mx",
    "mta_sts",
    "tls_rpt",
    "bimi",
    "ptr",
    "dnsbl",
    "tls",
    "drift",
    "compliance",
    "registration",
    "expiry",
    "delegation",
)
#: `tls` connects to the mail host's ports, `registration`/`expiry` ask registries' RDAP (rate limited per
#: source IP) and `delegation` the TLD's servers: opt-in for audits, their own families in the monitor
OPT_IN_CHECKS = ("tls", "registration", "expiry", "delegation")
DEFAULT_CHECKS = tuple(c for c in ALL_CHECKS if c not in OPT_IN_CHECKS)
#: seconds a domain's checks may take in all; a silent nameserver delays its own domain only
DEFAULT_DEADLINE = 30.0


@dataclass
class SubjectReport:
    """The checks of one domain or one IP."""

    subject: str
    checks: dict[str, CheckResult] = field(default_factory=dict)
    #: "domain" or "ip": the JSON key naming the subject
    kind: str = "domain"

    @property
    def status(self) -> CheckStatus:
        """The worst status of its checks."""
        return worst(c.status for c in self.checks.values())

    def to_json(self, key: str | None = None) -> dict[str, Any]:
        """`{key: subject, "status": …, "checks": {…}}` (key: the subject's kind by default)."""
        return {
            key or self.kind: self.subject,
            "status": self.status.value,
            "checks": {k: v.to_json() for k, v in self.checks.items()},
        }


@dataclass
class AuditReport:
    """A whole audit."""

    domains: list[SubjectReport]
    ips: list[SubjectReport]
    zones: list[ZoneHealth] = field(default_factory=list)
    #: set when the resolver did not answer at all: nothing was asked, every check is `unknown`
    resolver_silent: str | None = None

    @property
    def status(self) -> CheckStatus:
        """The worst status of everything."""
        return worst(r.status for r in [*self.domains, *self.ips])

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (docs/audit-format.md)."""
        data: dict[str, Any] = {
            "status": self.status.value,
            "domains": [d.to_json("domain") for d in self.domains],
            "ips": [i.to_json("ip") for i in self.ips],
            "zones": [zone_json(z) for z in self.zones],
        }
        if self.resolver_silent:
            data["resolver_silent"] = self.resolver_silent
        return data


@dataclass
class AuditSummary:
    """What a streamed audit keeps: counts and the worst status, never the reports themselves."""

    zones: list[ZoneHealth] = field(default_factory=list)
    status: CheckStatus = CheckStatus.OK
    domains: int = 0
    ips: int = 0
    #: set when the resolver did not answer at all (see AuditReport)
    resolver_silent: str | None = None

    def add(self, report: SubjectReport) -> None:
        """Count one finished subject."""
        self.status = worst((self.status, report.status))
        if report.kind == "ip":
            self.ips += 1
        else:
            self.domains += 1


def single_addresses(spf: str) -> list[str]:
    """ip4/ip6 mechanisms that name one address (the IPs to check when no inventory says)."""
    out = []
    for term in spf.split()[1:]:
        term = term.lstrip("+")
        for prefix, full in (("ip4:", 32), ("ip6:", 128)):
            if term.lower().startswith(prefix):
                value = term[len(prefix) :]
                address, _, length = value.partition("/")
                if not length or (length.isdigit() and int(length) == full):
                    with contextlib.suppress(ValueError):
                        out.append(str(ipaddress.ip_address(address)))
    return out


async def guarded(check: str, subject: str, work: Awaitable[CheckResult]) -> CheckResult:
    """Run one check; a bug or an answer nobody foresaw makes it `unknown`, never ends the audit."""
    try:
        return await work
    except Exception as exc:  # one odd domain must not cost the other thousand their results
        _log.exception("check %s on %s failed", check, subject)
        result = CheckResult(check)
        result.cannot_tell(f"{check}.internal_error", f"the check failed: {type(exc).__name__}: {exc}")
        return result


async def _within(end: float, check: str, work: Awaitable[CheckResult]) -> CheckResult:
    """The check's result, or `unknown` with `<check>.deadline` when the domain's deadline passes."""
    try:
        async with asyncio.timeout_at(end):
            return await work
    except TimeoutError:
        result = CheckResult(check)
        result.cannot_tell(f"{check}.deadline", "the domain's audit deadline passed before this check finished")
        return result


async def _all_within(end: float, jobs: dict[str, Awaitable[CheckResult]]) -> dict[str, CheckResult]:
    """`_within` for several checks with one timer, not one per check (a domain's checks share `end`)."""
    tasks = {name: asyncio.ensure_future(job) for name, job in jobs.items()}
    try:
        _, pending = await asyncio.wait(tasks.values(), timeout=max(0.0, end - asyncio.get_running_loop().time()))
    finally:
        late = [task for task in tasks.values() if not task.done()]
        for task in late:
            task.cancel()
        if late:
            await asyncio.gather(*late, return_exceptions=True)  # they have stopped when we go on
    results = {}
    for name, task in tasks.items():
        if task in pending:
            results[name] = CheckResult(name)
            message = "the domain's audit deadline passed before this check finished"
            results[name].cannot_tell(f"{name}.deadline", message)
        else:
            results[name] = task.result()
    return results


Progress = Callable[[str], None]
#: receives each subject's report as soon as it is complete (domains first, then IPs)
Emit = Callable[[SubjectReport], None]
#: which of the IPs found this run checks (PTR, IP blocklists); the others were checked this
#: interval by another run over the same server's domains (a scheduler's earlier batch)
IpGate = Callable[[list[str]], Awaitable[Collection[str]]]


async def audit_stream(
    targets: Iterable[DomainTarget],
    ctx: AuditContext,
    checks: set[str],
    zones: list[Blocklist],
    emit: Emit,
    *,
    concurrency: int = 200,
    progress: Progress | None = None,
    deadline: float = DEFAULT_DEADLINE,
    ip_gate: IpGate | None = None,
) -> AuditSummary:
    """Run the selected checks, handing each report to `emit` as it completes; IPs come last.

    Keeps per IP and per mail host what later subjects share (PTR and TLS results, the owner whose
    mail host an IP's PTR should name), never a domain's report: memory does not grow with the
    number of domains. IPs come from the inventory, else from MX hosts and SPF. Each domain gets
    `deadline` seconds from its start; checks still running then are `unknown`. With `ip_gate`
    only the IPs it returns get their PTR and blocklist checks (and a report).
    """
    summary = AuditSummary()
    silent = await ctx.resolver.silence()
    if silent is not None:
        # one cause, said once: no check is asked (each would only time out), each is `unknown`
        summary.resolver_silent = silent
        for report in undetermined(targets, checks, bool(zones), silent):
            summary.add(report)
            emit(report)
        return summary
    health = await self_tests(ctx.resolver, zones) if "dnsbl" in checks and zones else {}
    summary.zones = list(health.values())
    #: ip → (the first owner by name that has a mail host, that host): whom the PTR should name
    ip_host: dict[str, tuple[str, str] | None] = {}
    shared: dict[tuple[str, str], asyncio.Task[CheckResult | None]] = {}

    def once(key: tuple[str, str], work: Callable[[], Awaitable[CheckResult | None]]) -> Awaitable[CheckResult | None]:
        # One task per IP or host for every domain that needs it; shielded, so a domain whose
        # deadline passes does not cancel it for the others.
        task = shared.get(key)
        if task is None:
            task = shared[key] = asyncio.ensure_future(work())
        return asyncio.shield(task)

    async def discover(target: DomainTarget, mx_ips: list[str], end: float) -> tuple[list[str], str | None]:
        ips = target.sending_ips
        if ips is None:
            ips = mx_ips
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(end):
                    spf = spf_records((await ctx.resolver.txt(target.name)).texts())
                    ips = sorted(set(ips) | set(single_addresses(spf[0]) if spf else set()))
        host = target.mail_host
        if host is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(end):
                    host = await _first_mx(ctx, target.name)
        for ip in ips:
            known = ip_host.get(ip)
            if host and (known is None or target.name < known[0]):
                ip_host[ip] = (target.name, host)
            else:
                ip_host.setdefault(ip, None)
        return ips, host

    async def tls_of(host: str) -> CheckResult | None:
        addresses = await _addresses(ctx, host)
        return await guarded("tls", host, check_tls(host, addresses[0], ctx)) if addresses else None

    async def ptr_of(ip: str) -> CheckResult | None:
        # error and unknown do not depend on the mail host (it only adds ptr.wrong_host, a warning)
        return await guarded("ptr", ip, check_ptr(ip, ctx, None))

    async def one(target: DomainTarget) -> SubjectReport:
        end = asyncio.get_running_loop().time() + deadline
        mx_ips: list[str] = []

        async def mx_check() -> CheckResult:
            result, ips = await check_mx(target, ctx)
            mx_ips.extend(ips)
            return result

        async def mta_sts() -> CheckResult:
            hosts = [h for _, h in await _mx_list(ctx, target.name) if h]
            return await check_mta_sts(target, ctx, hosts)

        jobs: dict[str, Awaitable[CheckResult]] = {}
        for name, fn in (
            ("spf", check_spf),
            ("dkim", check_dkim),
            ("dmarc", check_dmarc),
            ("tls_rpt", check_tls_rpt),
            ("bimi", check_bimi),
        ):
            if name in checks:
                jobs[name] = guarded(name, target.name, fn(target, ctx))
        if target.desired is not None and "drift" in checks:
            jobs["drift"] = guarded("drift", target.name, check_drift(target, ctx))
        registered: dict[str, CheckResult] = {}

        async def registration() -> CheckResult:
            registered.update(await audit_registration(target.name, ctx))
            return registered["registration"]

        if ctx.probe is not None and checks & {"registration", "expiry"}:
            jobs["registration"] = guarded("registration", target.name, registration())
        if ctx.probe is not None and "delegation" in checks:
            jobs["delegation"] = guarded("delegation", target.name, audit_delegation(target.name, ctx))
        # mx always runs: its addresses are the IPs to check when no inventory names them
        jobs["mx"] = guarded("mx", target.name, mx_check())
        results = await _all_within(end, jobs)
        if "mx" not in checks:
            del results["mx"]
        if "expiry" in checks and "expiry" in registered:
            results["expiry"] = registered["expiry"]
        if "registration" not in checks:
            results.pop("registration", None)
        if "mta_sts" in checks:
            results["mta_sts"] = await _within(end, "mta_sts", guarded("mta_sts", target.name, mta_sts()))
        ips, host = await discover(target, mx_ips, end)
        if "dnsbl" in checks and zones:
            subjects = [target.name, *target.tracking_hosts]
            listings = await lookup(ctx.resolver, subjects, zones, health)
            results["dnsbl"] = listing_result(target.name, listings)
        if "tls" in checks and host:
            tls = await once(("tls", host), lambda: tls_of(host))
            if tls is not None:
                results["tls"] = tls
        if "compliance" in checks:
            ptr_ok: bool | None = None
            if "ptr" in checks and ips:
                ptrs = [await once(("ptr", ip), functools.partial(ptr_of, ip)) for ip in ips]
                if all(r is not None and r.status is not CheckStatus.UNKNOWN for r in ptrs):
                    ptr_ok = all(r is not None and r.status is not CheckStatus.ERROR for r in ptrs)
            results["compliance"] = compliance(results, ptr_ok)
        return SubjectReport(target.name, {c: results[c] for c in ALL_CHECKS if c in results})

    pending = iter(targets)

    async def worker() -> None:
        for target in pending:
            report = await one(target)
            summary.add(report)
            emit(report)
            if progress:
                progress(target.name)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        ip_list = sorted(ip_host)
        if ip_gate is not None and ip_list and ("ptr" in checks or ("dnsbl" in checks and zones)):
            ip_list = sorted(set(await ip_gate(ip_list)) & set(ip_list))
        ip_reports = {ip: SubjectReport(ip, kind="ip") for ip in ip_list}
        if "ptr" in checks:
            hosts = [(ip_host[ip] or ("", None))[1] for ip in ip_list]
            ptrs = await asyncio.gather(
                *(guarded("ptr", ip, check_ptr(ip, ctx, host)) for ip, host in zip(ip_list, hosts, strict=True))
            )
            for ip, result in zip(ip_list, ptrs, strict=True):
                ip_reports[ip].checks["ptr"] = result
        if "dnsbl" in checks and zones:
            grouped: dict[str, list[ListingResult]] = {}
            for item in await lookup(ctx.resolver, ip_list, zones, health):
                grouped.setdefault(item.target, []).append(item)
            for ip, report in ip_reports.items():
                report.checks["dnsbl"] = listing_result(ip, grouped.get(ip, []))
        for report in ip_reports.values():
            summary.add(report)
            emit(report)
    finally:
        for task in shared.values():
            task.cancel()
    return summary


async def audit(
    targets: list[DomainTarget],
    ctx: AuditContext,
    checks: set[str],
    zones: list[Blocklist],
    *,
    concurrency: int = 200,
    progress: Progress | None = None,
    deadline: float = DEFAULT_DEADLINE,
    ip_gate: IpGate | None = None,
) -> AuditReport:
    """The whole report of `audit_stream`, domains in the order given, IPs sorted."""
    domains: list[SubjectReport] = []
    ips: list[SubjectReport] = []

    def keep(report: SubjectReport) -> None:
        (ips if report.kind == "ip" else domains).append(report)

    summary = await audit_stream(
        targets,
        ctx,
        checks,
        zones,
        keep,
        concurrency=concurrency,
        progress=progress,
        deadline=deadline,
        ip_gate=ip_gate,
    )
    position = {t.name: i for i, t in reversed(list(enumerate(targets)))}
    domains.sort(key=lambda r: position[r.subject])
    return AuditReport(domains, ips, summary.zones, summary.resolver_silent)


def undetermined(
    targets: Iterable[DomainTarget], checks: set[str], blocklists: bool, reason: str
) -> Iterable[SubjectReport]:
    """Each domain's (then each declared IP's) selected checks as `unknown` for one `reason`.

    The finding (`<check>.resolver_silent`) has the same words everywhere, so a report says it once.
    """

    def result(check: str) -> CheckResult:
        out = CheckResult(check)
        out.cannot_tell(f"{check}.resolver_silent", f"not determined: {reason}")
        return out

    ips: set[str] = set()
    for target in targets:
        names = [c for c in ALL_CHECKS if c in checks and c not in ("ptr", "tls")]
        names = [c for c in names if (c != "drift" or target.desired is not None) and (c != "dnsbl" or blocklists)]
        if "tls" in checks and target.mail_host:
            names.append("tls")
        ips.update(target.sending_ips or [])
        yield SubjectReport(target.name, {c: result(c) for c in ALL_CHECKS if c in names})
    ip_checks = [c for c in ("ptr", "dnsbl") if c in checks and (c != "dnsbl" or blocklists)]
    for ip in sorted(ips):
        yield SubjectReport(ip, {c: result(c) for c in ip_checks}, kind="ip")


async def _mx_list(ctx: AuditContext, domain: str) -> list[tuple[int, str]]:
    return (await ctx.resolver.query(domain, "MX")).mx()


async def _first_mx(ctx: AuditContext, domain: str) -> str | None:
    hosts = [h for _, h in await _mx_list(ctx, domain) if h]
    return hosts[0] if hosts else None


async def _addresses(ctx: AuditContext, host: str) -> list[str]:
    ips, _ = await ctx.resolver.addresses(host)
    return ips

"""The audit engine: every check of every domain and sending IP, concurrently, on one resolver."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.monitoring.checks.compliance import compliance
from email_infrastructure.monitoring.checks.dkim import check_dkim
from email_infrastructure.monitoring.checks.dmarc import check_dmarc
from email_infrastructure.monitoring.checks.drift import check_drift
from email_infrastructure.monitoring.checks.mta_sts import check_bimi, check_mta_sts, check_tls_rpt
from email_infrastructure.monitoring.checks.mx import check_mx
from email_infrastructure.monitoring.checks.ptr import check_ptr
from email_infrastructure.monitoring.checks.spf import check_spf, spf_records
from email_infrastructure.monitoring.checks.tls import check_tls
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.dnsbl import (
    Blocklist,
    ListingResult,
    ZoneHealth,
    check_blocklists,
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
)
#: `tls` connects to the mail host's ports: opt-in for audits, on in the monitor
DEFAULT_CHECKS = tuple(c for c in ALL_CHECKS if c != "tls")
#: seconds a domain's checks may take in all; a silent nameserver delays its own domain only
DEFAULT_DEADLINE = 30.0


@dataclass
class SubjectReport:
    """The checks of one domain or one IP."""

    subject: str
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def status(self) -> CheckStatus:
        """The worst status of its checks."""
        return worst(c.status for c in self.checks.values())

    def to_json(self, key: str) -> dict[str, Any]:
        """`{key: subject, "status": …, "checks": {…}}`."""
        return {
            key: self.subject,
            "status": self.status.value,
            "checks": {k: v.to_json() for k, v in self.checks.items()},
        }


@dataclass
class AuditReport:
    """A whole audit."""

    domains: list[SubjectReport]
    ips: list[SubjectReport]
    zones: list[ZoneHealth] = field(default_factory=list)

    @property
    def status(self) -> CheckStatus:
        """The worst status of everything."""
        return worst(r.status for r in [*self.domains, *self.ips])

    def to_json(self) -> dict[str, Any]:
        """The documented JSON shape (docs/audit-format.md)."""
        return {
            "status": self.status.value,
            "domains": [d.to_json("domain") for d in self.domains],
            "ips": [i.to_json("ip") for i in self.ips],
            "zones": [{"zone": z.zone, "healthy": z.healthy, "reason": z.reason} for z in self.zones],
        }


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


def listing_result(subject: str, listings: list[ListingResult]) -> CheckResult:
    """DNSBL findings of one subject."""
    result = CheckResult("dnsbl")
    for item in listings:
        evidence = [f"{item.zone}: {', '.join(item.codes) or item.status}"]
        if item.status == "listed":
            if item.policy:
                result.warn("dnsbl.policy", f"{item.target} is on {item.zone}: {item.meaning}", evidence)
            else:
                result.error(
                    "dnsbl.listed",
                    f"{item.target} is listed on {item.zone}: {item.meaning}",
                    evidence,
                )
        elif item.status == "unknown":
            result.cannot_tell("dnsbl.unknown", f"{item.target} on {item.zone}: {item.meaning}")
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


Progress = Callable[[str], None]


async def audit(
    targets: list[DomainTarget],
    ctx: AuditContext,
    checks: set[str],
    zones: list[Blocklist],
    *,
    concurrency: int = 200,
    progress: Progress | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> AuditReport:
    """Run the selected checks; IPs come from the inventory, else from MX hosts and SPF.

    Each domain gets `deadline` seconds from its start; checks still running then are `unknown`.
    """
    semaphore = asyncio.Semaphore(concurrency)
    ip_owners: dict[str, set[str]] = {}
    mail_hosts: dict[str, str | None] = {}
    mx_ips: dict[str, list[str]] = {}

    async def mx_check(target: DomainTarget) -> CheckResult:
        result, ips = await check_mx(target, ctx)
        mx_ips[target.name] = ips
        return result

    async def discover_ips(target: DomainTarget, end: float) -> None:
        ips = target.sending_ips
        if ips is None:
            ips = mx_ips.get(target.name, [])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(end):
                    spf = spf_records((await ctx.resolver.txt(target.name)).texts())
                    ips = sorted(set(ips) | set(single_addresses(spf[0]) if spf else set()))
        for ip in ips:
            ip_owners.setdefault(ip, set()).add(target.name)
        mail_hosts[target.name] = target.mail_host
        if target.mail_host is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(end):
                    mail_hosts[target.name] = await _first_mx(ctx, target.name)

    async def mta_sts(target: DomainTarget) -> CheckResult:
        hosts = [h for _, h in await _mx_list(ctx, target.name) if h]
        return await check_mta_sts(target, ctx, hosts)

    async def one(target: DomainTarget) -> SubjectReport:
        async with semaphore:
            end = asyncio.get_running_loop().time() + deadline
            report = SubjectReport(target.name)
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
            # mx always runs: its addresses are the IPs to check when no inventory names them
            jobs["mx"] = guarded("mx", target.name, mx_check(target))
            done = await asyncio.gather(*(_within(end, name, job) for name, job in jobs.items()))
            results = dict(zip(jobs, done, strict=True))
            if "mx" not in checks:
                del results["mx"]
            if "mta_sts" in checks:
                results["mta_sts"] = await _within(end, "mta_sts", guarded("mta_sts", target.name, mta_sts(target)))
            order = [c for c in ALL_CHECKS if c in results]
            report.checks = {c: results[c] for c in order}
            await discover_ips(target, end)
        if progress:
            progress(target.name)
        return report

    domain_reports = list(await asyncio.gather(*(one(t) for t in targets)))
    by_name = {r.subject: r for r in domain_reports}
    ip_list = sorted(ip_owners)
    ip_reports = [SubjectReport(ip) for ip in ip_list]
    zone_health: list[ZoneHealth] = []

    if "ptr" in checks:
        host_for_ip = {
            ip: next((mail_hosts[d] for d in sorted(owners) if mail_hosts.get(d)), None)
            for ip, owners in ip_owners.items()
        }
        ptrs = await asyncio.gather(*(guarded("ptr", ip, check_ptr(ip, ctx, host_for_ip[ip])) for ip in ip_list))
        for report, result in zip(ip_reports, ptrs, strict=True):
            report.checks["ptr"] = result
    if "dnsbl" in checks and zones:
        subjects = ip_list + [t.name for t in targets] + sorted({h for t in targets for h in t.tracking_hosts})
        listings, zone_health = await check_blocklists(ctx.resolver, subjects, zones)
        grouped: dict[str, list[ListingResult]] = {}
        for item in listings:
            grouped.setdefault(item.target, []).append(item)
        for report in ip_reports:
            report.checks["dnsbl"] = listing_result(report.subject, grouped.get(report.subject, []))
        for target in targets:
            items = grouped.get(target.name, []) + [i for h in target.tracking_hosts for i in grouped.get(h, [])]
            by_name[target.name].checks["dnsbl"] = listing_result(target.name, items)
    if "tls" in checks:
        pairs = sorted(
            {(host, ip) for d, host in mail_hosts.items() if host for ip in (await _addresses(ctx, host))[:1]}
        )
        tls_results = dict(
            zip(
                pairs,
                await asyncio.gather(*(guarded("tls", h, check_tls(h, ip, ctx)) for h, ip in pairs)),
                strict=True,
            )
        )
        for domain, host in mail_hosts.items():
            for (h, _ip), result in tls_results.items():
                if h == host:
                    by_name[domain].checks["tls"] = result
    if "compliance" in checks:
        ptr_status = {r.subject: r.checks.get("ptr") for r in ip_reports}
        for target in targets:
            owned = [ip for ip, owners in ip_owners.items() if target.name in owners]
            results = [ptr_status.get(ip) for ip in owned]
            if not owned or any(r is None or r.status is CheckStatus.UNKNOWN for r in results):
                ptr_ok = None
            else:
                ptr_ok = all(r is not None and r.status is not CheckStatus.ERROR for r in results)
            by_name[target.name].checks["compliance"] = compliance(by_name[target.name].checks, ptr_ok)
    return AuditReport(domain_reports, ip_reports, zone_health)


async def _mx_list(ctx: AuditContext, domain: str) -> list[tuple[int, str]]:
    return (await ctx.resolver.query(domain, "MX")).mx()


async def _first_mx(ctx: AuditContext, domain: str) -> str | None:
    hosts = [h for _, h in await _mx_list(ctx, domain) if h]
    return hosts[0] if hosts else None


async def _addresses(ctx: AuditContext, host: str) -> list[str]:
    ips, _ = await ctx.resolver.addresses(host)
    return ips

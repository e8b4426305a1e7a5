"""SPF (RFC 7208): one record, syntax, recursive lookup and void-lookup counts, loops, coverage."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.resolver import Resolver, Status

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MAX_RECORD_BYTES = 450
_MECHANISM = re.compile(r"^([+\-~?]?)(all|include|a|mx|ptr|ip4|ip6|exists)(?::(.*?))?(?:/(\d+))?(?://(\d+))?$", re.I)
_MODIFIER = re.compile(r"^([a-z][a-z0-9_.-]*)=(.*)$", re.I)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def spf_records(texts: list[str]) -> list[str]:
    """The TXT strings that are SPF records (`v=spf1` followed by a space or the end)."""
    return [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


@dataclass
class Expansion:
    """What evaluating a record's DNS-querying terms found."""

    lookups: int = 0
    voids: int = 0
    networks: list[Network] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (id, severity, message)
    unknown: list[str] = field(default_factory=list)
    all_qualifier: str | None = None
    uses_ptr: bool = False


class _Walker:
    def __init__(self, resolver: Resolver, domain: str) -> None:
        self.resolver = resolver
        self.domain = domain
        self.result = Expansion()

    def problem(self, id: str, severity: str, message: str) -> None:
        self.result.problems.append((id, severity, message))

    async def record(self, record: str, name: str, chain: tuple[str, ...], top: bool) -> None:
        terms = record.split()[1:]
        redirect = None
        has_all = False
        for term in terms:
            match = _MECHANISM.match(term)
            if match is None:
                modifier = _MODIFIER.match(term)
                if modifier is None:
                    self.problem("spf.syntax", "error", f"{name}: '{term}' is not a valid SPF term")
                elif modifier.group(1).lower() == "redirect":
                    if redirect is not None:
                        self.problem("spf.syntax", "error", f"{name}: more than one redirect=")
                    redirect = modifier.group(2)
                continue
            qualifier, mech, arg = match.group(1) or "+", match.group(2).lower(), match.group(3)
            if mech == "all":
                has_all = True
                if top:
                    self.result.all_qualifier = qualifier
                continue
            if mech in ("ip4", "ip6"):
                try:
                    net = ipaddress.ip_network(f"{arg}{'/' + match.group(4) if match.group(4) else ''}", strict=False)
                except ValueError:
                    self.problem("spf.syntax", "error", f"{name}: '{term}' has an invalid address")
                    continue
                if (mech == "ip4") != (net.version == 4):
                    self.problem("spf.syntax", "error", f"{name}: '{term}' has the wrong address family")
                elif qualifier == "+":
                    self.result.networks.append(net)
                continue
            self.result.lookups += 1
            target = (arg or name).lower().rstrip(".")
            if mech == "include":
                if not arg:
                    self.problem("spf.syntax", "error", f"{name}: include needs a domain")
                    continue
                await self.include(target, chain)
            elif mech in ("a", "mx"):
                await self.addresses(mech, target, qualifier, match.group(4), match.group(5))
            elif mech == "ptr":
                self.result.uses_ptr = True
            elif mech == "exists":
                answer = await self.resolver.query(target, "A")
                self.count_void(answer.status, f"exists:{target}")
        if redirect is not None and has_all:
            self.problem(
                "spf.redirect_ignored",
                "warning",
                f"{name}: redirect= is ignored because the record has an all mechanism",
            )
        elif redirect is not None:
            self.result.lookups += 1
            await self.include(redirect.lower().rstrip("."), chain, redirect=True, top=top)

    def count_void(self, status: Status, what: str) -> None:
        if status.unknown:
            self.result.unknown.append(what)
        elif status.void:
            self.result.voids += 1

    async def include(self, target: str, chain: tuple[str, ...], *, redirect: bool = False, top: bool = False) -> None:
        kind = "redirect" if redirect else "include"
        if target in chain:
            self.problem("spf.loop", "error", f"{kind}:{target} loops back ({' → '.join((*chain, target))})")
            return
        answer = await self.resolver.txt(target)
        if answer.status.unknown:
            self.result.unknown.append(f"{kind}:{target}")
            return
        records = spf_records(answer.texts())
        if not records:
            self.count_void(answer.status, f"{kind}:{target}")
            self.problem("spf.include_missing", "error", f"{kind}:{target} has no SPF record (permerror)")
            return
        if len(records) > 1:
            self.problem(
                "spf.multiple_records",
                "error",
                f"{kind}:{target} publishes {len(records)} SPF records",
            )
        # A redirect's all mechanism becomes the record's own; an include's never does.
        await self.record(records[0], target, (*chain, target), top=redirect and top)

    async def addresses(self, mech: str, target: str, qualifier: str, cidr4: str | None, cidr6: str | None) -> None:
        hosts = [target]
        if mech == "mx":
            answer = await self.resolver.query(target, "MX")
            self.count_void(answer.status, f"mx:{target}")
            mx = answer.mx()
            hosts = [host for _, host in mx][:10]
            if len(mx) > 10:
                self.problem("spf.too_many_mx", "error", f"mx:{target} has more than 10 MX hosts (permerror)")
        for host in hosts:
            for rtype, prefix in (("A", cidr4 or "32"), ("AAAA", cidr6 or "128")):
                answer = await self.resolver.query(host, rtype)
                if mech == "a" and rtype == "A" and not answer.found:
                    aaaa = await self.resolver.query(host, "AAAA")
                    if not aaaa.found:
                        self.count_void(answer.status, f"a:{host}")
                for value in answer.values():
                    if qualifier == "+":
                        self.result.networks.append(ipaddress.ip_network(f"{value}/{prefix}", strict=False))


async def expand(resolver: Resolver, domain: str, record: str) -> Expansion:
    """Evaluate every DNS-querying term of `record` recursively."""
    walker = _Walker(resolver, domain)
    await walker.record(record, domain, (domain,), top=True)
    return walker.result


async def check_spf(target: DomainTarget, ctx: AuditContext) -> CheckResult:
    """The SPF check."""
    result = CheckResult("spf")
    answer = await ctx.resolver.txt(target.name)
    if answer.status.unknown:
        result.cannot_tell("spf.unknown", f"the TXT query for {target.name} failed ({answer.status.value})")
        return result
    records = spf_records(answer.texts())
    if not records:
        result.error("spf.missing", f"{target.name} publishes no SPF record", answer.texts())
        return result
    if len(records) > 1:
        result.error(
            "spf.multiple_records",
            f"{target.name} publishes {len(records)} SPF records (permerror)",
            records,
        )
    record = records[0]
    if len(record.encode()) > MAX_RECORD_BYTES:
        result.warn(
            "spf.too_long",
            f"the SPF record is {len(record.encode())} bytes; keep it under {MAX_RECORD_BYTES}",
            [record],
        )
    found = await expand(ctx.resolver, target.name, record)
    for id, severity, message in found.problems:
        result.add(id, severity, message, [record])  # type: ignore[arg-type]
    if found.lookups > LOOKUP_LIMIT:
        result.error(
            "spf.too_many_lookups",
            f"evaluating SPF needs {found.lookups} DNS lookups; the limit is {LOOKUP_LIMIT} (permerror)",
            [record],
        )
    if found.voids > VOID_LIMIT:
        result.error(
            "spf.void_lookups",
            f"SPF has {found.voids} void lookups; the limit is {VOID_LIMIT} (permerror)",
            [record],
        )
    if found.uses_ptr:
        result.warn(
            "spf.ptr",
            "the ptr mechanism is slow, unreliable and SHOULD NOT be used (RFC 7208 §5.5)",
            [record],
        )
    if found.all_qualifier == "+":
        result.error(
            "spf.plus_all",
            "+all authorises every host on the Internet to send as this domain",
            [record],
        )
    elif found.all_qualifier == "?":
        result.warn("spf.neutral_all", "?all is neutral and protects nothing; use -all or ~all", [record])
    elif found.all_qualifier is None and "redirect=" not in record.lower():
        result.warn(
            "spf.no_all",
            "the record ends without an all mechanism (the default is neutral)",
            [record],
        )
    if found.unknown:
        result.cannot_tell("spf.lookup_unknown", f"some SPF lookups did not answer: {', '.join(found.unknown[:5])}")
    for ip in target.sending_ips or []:
        address = ipaddress.ip_address(ip)
        covered = any(address in net for net in found.networks if net.version == address.version)
        if not covered and not found.unknown:
            result.error(
                "spf.ip_not_covered",
                f"the sending IP {ip} is not authorised by the SPF record",
                [record],
            )
    return result

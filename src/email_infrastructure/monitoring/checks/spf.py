"""SPF (RFC 7208): one record, syntax, lookup and void-lookup limits, loops, IP coverage.

The walk follows RFC 7208 §4.6.4: it stops at the 11th DNS-querying term or the 3rd void lookup
(no query after that), and the whole walk is bounded in time. What cannot be known without a
sender (macros naming the sender, `ptr`) is reported as undetermined, never as missing.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from dataclasses import dataclass, field

from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.findings import CheckResult, Severity
from email_infrastructure.monitoring.resolver import Answer, Resolver, Status
from email_infrastructure.monitoring.spf_syntax import DNS_TERMS, Mechanism, Network, expand, is_spf, parse
from email_infrastructure.monitoring.spf_syntax import Record as SpfRecord

LOOKUP_LIMIT = 10
VOID_LIMIT = 2
MX_LIMIT = 10
MAX_RECORD_BYTES = 450
#: findings that make the record a permerror for receivers (RFC 7208 §4.6, §4.6.4, §5.2)
PERMERROR_IDS = frozenset(
    {
        "spf.syntax",
        "spf.multiple_records",
        "spf.too_many_lookups",
        "spf.void_lookups",
        "spf.loop",
        "spf.include_missing",
        "spf.too_many_mx",
    }
)
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def spf_records(texts: list[str]) -> list[str]:
    """The TXT strings that are SPF records, sorted (the DNS answer order means nothing)."""
    return sorted(t for t in texts if is_spf(t))


@dataclass
class Step:
    """One evaluated term: what it matches, in record order (`kind` says how to read it)."""

    qualifier: str
    kind: str  # all | networks | exists | include | redirect | unknown | error
    networks: tuple[Network, ...] = ()
    sub: list[Step] = field(default_factory=list)
    matches: bool = False
    reason: str = ""


def verdict(steps: list[Step], ip: Address) -> tuple[str, str]:
    """(qualifier of the first matching term, or 'unknown'/'error', or '?' by default; why)."""
    for step in steps:
        if step.kind == "all":
            return step.qualifier, ""
        if step.kind in ("unknown", "error"):
            return step.kind, step.reason
        if step.kind == "networks" and any(ip in n for n in step.networks if n.version == ip.version):
            return step.qualifier, ""
        if step.kind == "exists" and step.matches:
            return step.qualifier, ""
        if step.kind in ("include", "redirect"):
            inner, reason = verdict(step.sub, ip)
            if step.kind == "redirect" or inner in ("unknown", "error"):
                return inner, reason
            if inner == "+":
                return step.qualifier, ""
    return "?", ""


@dataclass
class Expansion:
    """What evaluating a record's DNS-querying terms found."""

    steps: list[Step] = field(default_factory=list)
    lookups: int = 0
    voids: int = 0
    problems: list[tuple[str, Severity, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    not_static: list[str] = field(default_factory=list)
    all_qualifier: str | None = None
    uses_ptr: bool = False
    stopped: bool = False
    timed_out: bool = False


def lookup_terms(parsed: SpfRecord) -> list[str]:
    """The record's own DNS-querying terms that evaluation can reach, in order (RFC 7208 §4.6.4).

    Terms after the first `all` are never evaluated, and neither is redirect= when there is an `all`.
    """
    terms: list[str] = []
    for mechanism in parsed.mechanisms:
        if mechanism.name == "all":
            return terms
        if mechanism.name in DNS_TERMS:
            terms.append(f"{mechanism.name}:{mechanism.domain}" if mechanism.domain else mechanism.name)
    if parsed.redirect is not None:
        terms.append(f"redirect={parsed.redirect}")
    return terms


class _Walker:
    def __init__(self, resolver: Resolver, domain: str) -> None:
        self.resolver = resolver
        self.domain = domain
        self.found = Expansion()

    def problem(self, id: str, message: str, severity: Severity = Severity.ERROR) -> None:
        self.found.problems.append((id, severity, message))

    def stop(self, id: str, message: str) -> Step:
        self.found.stopped = True
        self.problem(id, message)
        return Step("", "error", reason=message)

    def unknown(self, what: str, status: Status) -> Step:
        self.found.unknown.append(f"{what} ({status.value})")
        return Step("", "unknown", reason=f"{what} did not answer ({status.value})")

    def count(self, term: str, name: str) -> Step | None:
        """Count one DNS-querying term; the error step when it is over the limit."""
        self.found.lookups += 1
        if self.found.lookups > LOOKUP_LIMIT:
            return self.stop(
                "spf.too_many_lookups",
                f"evaluating SPF needs more than {LOOKUP_LIMIT} DNS lookups: the 11th is {term} in {name}; "
                "the evaluation stops there (permerror)",
            )
        return None

    def void(self, answer: Answer, what: str) -> Step | None:
        if answer.status.void:
            self.found.voids += 1
            if self.found.voids > VOID_LIMIT:
                return self.stop(
                    "spf.void_lookups",
                    f"more than {VOID_LIMIT} void lookups (the 3rd is {what}); the limit is {VOID_LIMIT} (permerror)",
                )
        return None

    async def record(self, text: str, name: str, chain: tuple[str, ...], top: bool) -> list[Step]:
        parsed = _parsed(text)
        first_all = parsed.first_all
        if top and first_all is not None:
            self.found.all_qualifier = first_all.qualifier
        if parsed.errors:
            for error in parsed.errors:
                self.problem("spf.syntax", f"{name}: {error} (permerror)")
            return [Step("", "error", reason=f"{name} has a syntax error")]
        if parsed.redirect is not None and first_all is not None:
            message = f"{name}: redirect= is ignored because the record has an all mechanism"
            self.problem("spf.redirect_ignored", message, Severity.WARNING)
        terms = lookup_terms(parsed)
        if len(terms) > LOOKUP_LIMIT:
            # decided by the text alone: no answer (or silence) from the names can change it
            self.found.lookups += len(terms)
            self.found.uses_ptr = self.found.uses_ptr or "ptr" in terms
            return [
                self.stop(
                    "spf.too_many_lookups",
                    f"evaluating SPF needs more than {LOOKUP_LIMIT} DNS lookups: the 11th is {terms[LOOKUP_LIMIT]} "
                    f"in {name}, which alone has {len(terms)} DNS-querying terms (include, a, mx, ptr, exists, "
                    "redirect): a permerror whatever its names answer (they were not queried)",
                )
            ]
        steps: list[Step] = []
        for mechanism in parsed.mechanisms:
            if self.found.stopped:
                return [*steps, Step("", "error", reason="the evaluation stopped")]
            if mechanism.name == "all":
                steps.append(Step(mechanism.qualifier, "all"))
                return steps  # later terms are never evaluated, for any sender
            if mechanism.network is not None:
                steps.append(Step(mechanism.qualifier, "networks", (mechanism.network,)))
                continue
            steps.append(await self.mechanism(mechanism, name, chain))
        if parsed.redirect is not None and not self.found.stopped:
            steps.append(await self.redirect(parsed.redirect, name, chain, top))
        return steps

    async def redirect(self, spec: str, name: str, chain: tuple[str, ...], top: bool) -> Step:
        over = self.count(f"redirect={spec}", name)
        if over is not None:
            return over
        target = expand(spec, name, self.domain)
        if target is None:
            self.found.not_static.append(f"redirect={spec} in {name}")
            return Step("", "unknown", reason=f"redirect={spec} depends on the sender")
        return Step("", "redirect", sub=await self.include(target, chain, "redirect", top))

    async def mechanism(self, mechanism: Mechanism, name: str, chain: tuple[str, ...]) -> Step:
        term = f"{mechanism.name}:{mechanism.domain}" if mechanism.domain else mechanism.name
        over = self.count(term, name)
        if over is not None:
            return over
        if mechanism.name == "ptr":
            self.found.uses_ptr = True
            return Step(mechanism.qualifier, "unknown", reason="ptr depends on the sender's reverse DNS")
        target = expand(mechanism.domain, name, self.domain) if mechanism.domain else name
        if target is None:
            self.found.not_static.append(f"{term} in {name}")
            return Step(mechanism.qualifier, "unknown", reason=f"{term} depends on the sender")
        if mechanism.name == "include":
            return Step(mechanism.qualifier, "include", sub=await self.include(target, chain, "include", False))
        if mechanism.name == "exists":
            answer = await self.resolver.query(target, "A")
            if answer.status.unknown:
                return self.unknown(f"exists:{target}", answer.status)
            return self.void(answer, f"exists:{target}") or Step(mechanism.qualifier, "exists", matches=answer.found)
        return await self.addresses(mechanism, target)

    async def include(self, target: str, chain: tuple[str, ...], kind: str, top: bool) -> list[Step]:
        if target in chain:
            message = f"{kind}:{target} loops back ({' → '.join((*chain, target))}) (permerror)"
            self.problem("spf.loop", message)
            return [Step("", "error", reason=message)]
        answer = await self.resolver.txt(target)
        if answer.status.unknown:
            return [self.unknown(f"{kind}:{target}", answer.status)]
        records = spf_records(answer.texts())
        if not records:
            over = self.void(answer, f"{kind}:{target}")
            message = f"{kind}:{target} has no SPF record (permerror)"
            self.problem("spf.include_missing", message)
            return [over or Step("", "error", reason=message)]
        if len(records) > 1:
            message = f"{kind}:{target} publishes {len(records)} SPF records (permerror)"
            self.problem("spf.multiple_records", message)
            return [Step("", "error", reason=message)]
        # A redirect's all mechanism becomes the record's own; an include's never does.
        return await self.record(records[0], target, (*chain, target), top)

    async def addresses(self, mechanism: Mechanism, target: str) -> Step:
        hosts = [target]
        if mechanism.name == "mx":
            answer = await self.resolver.query(target, "MX")
            if answer.status.unknown:
                return self.unknown(f"mx:{target}", answer.status)
            over = self.void(answer, f"mx:{target}")
            if over is not None:
                return over
            names = answer.mx()
            if len(names) > MX_LIMIT:
                message = f"mx:{target} has more than {MX_LIMIT} MX hosts (permerror)"
                self.problem("spf.too_many_mx", message)
                return Step("", "error", reason=message)
            hosts = [host for _, host in names if host]  # a null MX names no host
        answers = await asyncio.gather(*(self.resolver.query(h, t) for h in hosts for t in ("A", "AAAA")))
        failed = next((a for a in answers if a.status.unknown), None)
        if failed is not None:
            return self.unknown(f"{mechanism.name}:{failed.name}", failed.status)
        if mechanism.name == "a" and all(a.status.void for a in answers):
            over = self.void(answers[0], f"a:{target}")
            if over is not None:
                return over
        prefix = {
            "A": 32 if mechanism.cidr4 is None else mechanism.cidr4,
            "AAAA": 128 if mechanism.cidr6 is None else mechanism.cidr6,
        }
        networks = tuple(
            ipaddress.ip_network(f"{value}/{prefix[a.rtype]}", strict=False) for a in answers for value in a.values()
        )
        return Step(mechanism.qualifier, "networks", networks)


@functools.lru_cache(maxsize=4096)
def _parsed(text: str) -> SpfRecord:
    """`parse`, once per distinct text: a fleet's domains share their ESPs' include records (only read here)."""
    return parse(text)


async def expand_record(resolver: Resolver, domain: str, record: str, timeout: float) -> Expansion:
    """Evaluate every DNS-querying term of `record` recursively, within `timeout` seconds."""
    walker = _Walker(resolver, domain)
    try:
        async with asyncio.timeout(timeout):
            walker.found.steps = await walker.record(record, domain, (domain,), top=True)
    except TimeoutError:
        walker.found.timed_out = True
        walker.found.steps = [Step("", "unknown", reason=f"the SPF walk did not finish in {timeout:g} s")]
    return walker.found


def _mapped(ip: str) -> Address:
    """The address as SPF compares it: IPv4-mapped IPv6 is IPv4 (RFC 7208 §5)."""
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


async def _check_record(result: CheckResult, target: DomainTarget, ctx: AuditContext, record: str) -> None:
    evidence = [record]
    if len(record.encode()) > MAX_RECORD_BYTES:
        result.warn(
            "spf.too_long",
            f"the SPF record is {len(record.encode())} bytes; keep it under {MAX_RECORD_BYTES}",
            evidence,
        )
    found = await expand_record(ctx.resolver, target.name, record, ctx.options.spf_timeout)
    for id, severity, message in found.problems:
        result.add(id, severity, message, evidence)
    if found.timed_out:
        result.cannot_tell(
            "spf.timeout", f"the SPF walk did not finish within {ctx.options.spf_timeout:g} s (slow or silent DNS)"
        )
    if found.uses_ptr:
        result.warn("spf.ptr", "the ptr mechanism is slow, unreliable and SHOULD NOT be used (RFC 7208 §5.5)", evidence)
    if found.all_qualifier == "+":
        result.error("spf.plus_all", "+all authorises every host on the Internet to send as this domain", evidence)
    elif found.all_qualifier == "?":
        result.warn("spf.neutral_all", "?all is neutral and protects nothing; use -all or ~all", evidence)
    elif found.all_qualifier is None and _parsed(record).redirect is None:
        result.warn("spf.no_all", "the record ends without an all mechanism (the default is neutral)", evidence)
    if found.unknown:
        result.cannot_tell("spf.lookup_unknown", f"some SPF lookups did not answer: {', '.join(found.unknown[:5])}")
    if found.not_static:
        result.cannot_tell(
            "spf.not_static",
            "the result cannot be determined statically: "
            f"{', '.join(found.not_static[:5])} use macros that depend on the sender",
        )
    for ip in target.sending_ips or []:
        outcome, reason = verdict(found.steps, _mapped(ip))
        if outcome == "unknown":
            result.cannot_tell(
                "spf.not_static", f"whether {ip} is authorised cannot be determined statically: {reason}"
            )
        elif outcome not in ("+", "error"):
            result.error("spf.ip_not_covered", f"the sending IP {ip} is not authorised by the SPF record", evidence)


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
        result.error("spf.multiple_records", f"{target.name} publishes {len(records)} SPF records (permerror)", records)
    for record in records:  # each one, in sorted order: the output never depends on answer order
        await _check_record(result, target, ctx, record)
    return result

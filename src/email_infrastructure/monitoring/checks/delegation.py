"""Delegation at the parent: the TLD's servers refer the domain to our nameservers, and those answer.

The parent zone's servers are found through the configured resolver (its NS, then their addresses);
each is asked without recursion, and its referral's NS set is compared with the desired one (the DNS
provider's nameservers). Then each of our nameservers is asked for the domain's SOA: an answer
without `aa` (or a refusal) is a lame delegation (../shared/reference/registrars.md §7).

A just-changed delegation is `pending`, not an error: when the desired set changed less than the
parent's NS TTL ago (`DelegationTarget.changed_at`), a different referral is a warning that says
until when. A parent or nameserver that does not answer is `unknown`, never "wrong".
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.resolver import Resolver

#: nameservers a registrar switches a domain to when it suspends or parks it (registrars.md §4, §7):
#: only Cloudflare/Key-Systems' verification suspension is named there; Porkbun's and Namecheap's
#: parking servers are not (unconfirmed), so they are not listed
SUSPENSION_NAMESERVERS = {"emailverification.info": "suspended until the registrant's email address is verified"}


@dataclass(frozen=True)
class DelegationTarget:
    """A domain, the nameservers it should be delegated to, and when that set last changed."""

    name: str
    #: lower-case host names without the trailing dot; empty: the DNS provider does not say
    desired: tuple[str, ...] = ()
    changed_at: datetime | None = None


@dataclass(frozen=True)
class DelegationOptions:
    """Where to ask (ports other than 53 are for test servers on loopback) and how long to wait."""

    parent_port: int = 53
    nameserver_port: int = 53
    timeout: float = 3.0
    #: parent servers asked per domain (a TLD has up to 13; three show a registry out of step)
    parent_servers: int = 3


@dataclass
class Referral:
    """What one parent server said of the child."""

    server: str
    rcode: dns.rcode.Rcode
    nameservers: frozenset[str] = frozenset()
    ttl: int = 0
    glue: dict[str, list[str]] = field(default_factory=dict)


def host(text: str) -> str:
    """`NS1.Example.com.` → `ns1.example.com`."""
    return text.rstrip(".").lower()


async def ask(address: str, port: int, name: str, rdtype: str, timeout: float) -> dns.message.Message | None:
    """One non-recursive query (TCP when truncated); None when the server does not answer."""
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD
    try:
        response, _ = await dns.asyncquery.udp_with_fallback(query, address, timeout=timeout, port=port)
    except (dns.exception.DNSException, OSError, EOFError, ValueError):
        return None
    return response


def read_referral(server: str, child: str, message: dns.message.Message) -> Referral:
    """The child's NS set (authority or answer), its TTL and the glue of a parent's reply."""
    referral = Referral(server, message.rcode())
    names: set[str] = set()
    for rrset in [*message.answer, *message.authority]:
        if rrset.rdtype == dns.rdatatype.NS and host(rrset.name.to_text()) == child:
            names.update(host(r.to_text()) for r in rrset)
            referral.ttl = max(referral.ttl, rrset.ttl)
    for rrset in message.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            referral.glue.setdefault(host(rrset.name.to_text()), []).extend(r.to_text() for r in rrset)
    referral.nameservers = frozenset(names)
    return referral


async def _address(resolver: Resolver, name: str, glue: dict[str, list[str]]) -> tuple[str | None, bool]:
    """An address of `name` (IPv4 first: not every network routes IPv6), and whether the lookup was undetermined."""
    found = glue.get(name)
    unknown = False
    if not found:
        found, status = await resolver.addresses(name)
        unknown = status.unknown
    found = sorted(found, key=lambda a: ipaddress.ip_address(a).version)
    return (found[0] if found else None), unknown


async def check_delegation(
    target: DelegationTarget, resolver: Resolver, options: DelegationOptions, now: datetime
) -> CheckResult:
    """The `delegation` check of one domain."""
    result = CheckResult("delegation")
    parent = target.name.split(".", 1)[1]
    answer = await resolver.query(parent, "NS")
    if answer.status.unknown or not answer.values():
        result.cannot_tell("delegation.unknown", f"the nameservers of the parent zone {parent} could not be found")
        return result
    servers: list[str] = []
    for name in sorted(host(v) for v in answer.values()):
        address, _ = await _address(resolver, name, {})
        if address and address not in servers:
            servers.append(address)
        if len(servers) >= options.parent_servers:
            break
    replies = await asyncio.gather(*(ask(s, options.parent_port, target.name, "NS", options.timeout) for s in servers))
    referrals = [read_referral(s, target.name, r) for s, r in zip(servers, replies, strict=True) if r is not None]
    if not referrals:
        result.cannot_tell("delegation.unknown", f"no server of the parent zone {parent} answered")
        return result
    delegated = [r for r in referrals if r.nameservers]
    if not delegated:
        rcode = dns.rcode.to_text(referrals[0].rcode)
        result.error(
            "delegation.missing",
            f"the parent zone {parent} does not delegate {target.name} ({rcode}): not registered, on hold or expired",
        )
        return result
    sets = {r.nameservers for r in delegated}
    seen = delegated[0].nameservers
    evidence = [f"parent: {' '.join(sorted(seen))}"] + (
        [f"desired: {' '.join(target.desired)}"] if target.desired else []
    )
    _suspension(seen, target.name, result, evidence)
    glue = {k: v for r in delegated for k, v in r.glue.items()}
    ttl = max(r.ttl for r in delegated)
    if target.desired:
        _compare(target, sets, ttl, now, result, evidence)
    else:
        result.info(
            "delegation.no_desired",
            f"the DNS provider names no nameservers for {target.name}: only the parent's were checked",
        )
    await _lame(target, target.desired or tuple(sorted(seen)), resolver, glue, options, result)
    result.summary = f"delegated to {' '.join(sorted(seen))}"
    if not result.findings:
        result.info("delegation.ok", f"the parent delegates {target.name} to {' '.join(sorted(seen))}")
    return result


def _suspension(seen: frozenset[str], name: str, result: CheckResult, evidence: Sequence[str]) -> None:
    for ns in sorted(seen):
        for suffix, meaning in SUSPENSION_NAMESERVERS.items():
            if ns == suffix or ns.endswith("." + suffix):
                result.error("delegation.suspended", f"{name} is delegated to {ns}: {meaning}", evidence)
                return


def _compare(
    target: DelegationTarget,
    sets: set[frozenset[str]],
    ttl: int,
    now: datetime,
    result: CheckResult,
    evidence: Sequence[str],
) -> None:
    desired = frozenset(target.desired)
    if sets == {desired}:
        return
    until = target.changed_at + timedelta(seconds=ttl) if target.changed_at else None
    if until is not None and now < until:
        result.warn(
            "delegation.pending",
            f"the delegation of {target.name} changed at {target.changed_at:%Y-%m-%d %H:%M} UTC; the parent's NS "
            f"TTL is {ttl} s, so it is pending until {until:%Y-%m-%d %H:%M} UTC",
            evidence,
        )
    elif desired in sets:
        result.warn(
            "delegation.inconsistent",
            f"the parent's servers disagree about {target.name}: the change is still spreading",
            evidence,
        )
    else:
        result.error(
            "delegation.mismatch", f"the parent delegates {target.name} to other nameservers than desired", evidence
        )


async def _lame(
    target: DelegationTarget,
    nameservers: Sequence[str],
    resolver: Resolver,
    glue: dict[str, list[str]],
    options: DelegationOptions,
    result: CheckResult,
) -> None:
    async def one(ns: str) -> None:
        address, unknown = await _address(resolver, ns, glue)
        if address is None:
            if unknown:
                result.cannot_tell("delegation.unknown", f"the address of the nameserver {ns} could not be found")
            else:
                result.error("delegation.lame", f"the nameserver {ns} has no address: it cannot serve {target.name}")
            return
        reply = await ask(address, options.nameserver_port, target.name, "SOA", options.timeout)
        if reply is None:
            result.cannot_tell("delegation.unknown", f"the nameserver {ns} ({address}) did not answer")
            return
        has_soa = any(r.rdtype == dns.rdatatype.SOA and host(r.name.to_text()) == target.name for r in reply.answer)
        if reply.rcode() != dns.rcode.NOERROR or not reply.flags & dns.flags.AA or not has_soa:
            said = dns.rcode.to_text(reply.rcode()) + ("" if reply.flags & dns.flags.AA else ", not authoritative")
            result.error(
                "delegation.lame",
                f"the nameserver {ns} does not serve {target.name} ({said}): a lame delegation",
                [f"{ns} {address}"],
            )

    await asyncio.gather(*(one(ns) for ns in nameservers))


async def audit_delegation(name: str, ctx: AuditContext) -> CheckResult:
    """`delegation` of any domain in an audit: the parent's referral and its servers' answers (no desired set)."""
    assert ctx.probe is not None  # the audit asks only when a probe was given
    return await check_delegation(DelegationTarget(name), ctx.resolver, ctx.probe.delegation, datetime.now(UTC))

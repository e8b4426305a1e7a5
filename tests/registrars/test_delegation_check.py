"""The `delegation` check against a real parent (TLD) PowerDNS and "our" PowerDNS: the referral's NS set
against the desired one, lame nameservers, suspension nameservers, a just-changed delegation pending,
and the family through the monitor with the zone-file provider's nameservers (SQLite and PostgreSQL)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from email_infrastructure.monitoring.checks.delegation import DelegationOptions, DelegationTarget, check_delegation
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.resolver import Resolver
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService, check_states
from email_infrastructure.services.registration_checks import DomainCheckOptions
from tests.fixtures.parent_dns import DELEGATION_TTL, ParentDns, authoritative
from tests.fixtures.pdns import PowerDns, free_port
from tests.registrars.test_registration_family import ROOT, stored

NOW = datetime.now(UTC)


def child() -> str:
    """A name no other test delegates (the parent lives for the whole session)."""
    return f"deleg-{secrets.token_hex(4)}.test"


def ours(domain: str) -> tuple[str, str]:
    """Our two nameservers for `domain`, in bailiwick (their glue is at the parent)."""
    return f"ns1.{domain}", f"ns2.{domain}"


def delegate_to_us(parent: ParentDns, pdns: PowerDns, domain: str, nameservers: tuple[str, ...]) -> None:
    """The parent refers `domain` to `nameservers`, whose glue is our PowerDNS's address."""
    parent.delegate(domain, nameservers, {ns: [pdns.address] for ns in nameservers if ns.endswith(domain)})


@pytest.fixture
async def resolver(parent_dns: ParentDns) -> AsyncIterator[Resolver]:
    """The configured resolver: here the parent itself (it answers the TLD's NS and their addresses)."""
    found = Resolver([(parent_dns.address, parent_dns.port)], timeout=1.0)
    yield found
    await found.close()


def options(parent_dns: ParentDns, pdns: PowerDns) -> DelegationOptions:
    """Parent and our nameserver share 127.0.0.1 and differ by port."""
    return DelegationOptions(parent_port=parent_dns.port, nameserver_port=pdns.dns_port, timeout=1.0)


async def check(
    domain: str,
    desired: tuple[str, ...],
    resolver: Resolver,
    parent_dns: ParentDns,
    pdns: PowerDns,
    changed_at: datetime | None = None,
) -> CheckResult:
    """The check of `domain` now."""
    target = DelegationTarget(domain, desired, changed_at)
    return await check_delegation(target, resolver, options(parent_dns, pdns), NOW)


async def test_a_matching_delegation_to_authoritative_servers_is_ok(
    parent_dns: ParentDns, pdns: PowerDns, resolver: Resolver
) -> None:
    domain = child()
    delegate_to_us(parent_dns, pdns, domain, ours(domain))
    with authoritative(pdns, domain):
        result = await check(domain, ours(domain), resolver, parent_dns, pdns)
    assert result.status.value == "ok", result.to_json()
    assert result.ids() == {"delegation.ok"} and ours(domain)[0] in result.findings[0].message


async def test_a_different_ns_set_is_an_error_unless_the_change_is_within_the_parents_ttl(
    parent_dns: ParentDns, pdns: PowerDns, resolver: Resolver
) -> None:
    domain = child()
    delegate_to_us(parent_dns, pdns, domain, (*ours(domain), f"old.{domain}"))
    with authoritative(pdns, domain):
        wrong = await check(domain, ours(domain), resolver, parent_dns, pdns)
        just_changed = await check(domain, ours(domain), resolver, parent_dns, pdns, NOW - timedelta(minutes=5))
        long_ago = NOW - timedelta(seconds=DELEGATION_TTL + 60)
        stale = await check(domain, ours(domain), resolver, parent_dns, pdns, long_ago)

    assert (wrong.status.value, wrong.ids()) == ("error", {"delegation.mismatch"})
    assert f"parent: ns1.{domain} ns2.{domain} old.{domain}" in wrong.findings[0].evidence
    assert (just_changed.status.value, just_changed.ids()) == ("warning", {"delegation.pending"})
    assert f"TTL is {DELEGATION_TTL} s" in just_changed.findings[0].message
    assert stale.ids() == {"delegation.mismatch"}


async def test_a_nameserver_that_does_not_serve_the_zone_is_lame(
    parent_dns: ParentDns, pdns: PowerDns, resolver: Resolver
) -> None:
    domain = child()
    delegate_to_us(parent_dns, pdns, domain, ours(domain))
    result = await check(domain, ours(domain), resolver, parent_dns, pdns)  # our PowerDNS refuses it
    assert result.status.value == "error" and result.ids() == {"delegation.lame"}
    assert {f.message.split(" does not serve")[0] for f in result.findings} == {
        f"the nameserver {ns}" for ns in ours(domain)
    }
    assert "REFUSED" in result.findings[0].message


async def test_suspension_nameservers_and_a_missing_delegation_are_their_own_findings(
    parent_dns: ParentDns, pdns: PowerDns, resolver: Resolver
) -> None:
    suspended, gone = child(), child()
    parent_dns.delegate(suspended, ["ns1.emailverification.info", "ns2.emailverification.info"])
    delegate_to_us(parent_dns, pdns, gone, ours(gone))
    parent_dns.undelegate(gone)
    with authoritative(pdns, suspended):
        on_hold = await check(suspended, ours(suspended), resolver, parent_dns, pdns)
    missing = await check(gone, ours(gone), resolver, parent_dns, pdns)

    assert "delegation.suspended" in on_hold.ids() and on_hold.status.value == "error"
    assert "email address is verified" in next(f.message for f in on_hold.findings if f.id == "delegation.suspended")
    assert (missing.status.value, missing.ids()) == ("error", {"delegation.missing"})
    assert "NXDOMAIN" in missing.findings[0].message


async def test_a_silent_parent_is_unknown(parent_dns: ParentDns, pdns: PowerDns, resolver: Resolver) -> None:
    domain = child()
    delegate_to_us(parent_dns, pdns, domain, ours(domain))
    silent = DelegationOptions(parent_port=free_port(), nameserver_port=pdns.dns_port, timeout=0.3)
    result = await check_delegation(DelegationTarget(domain, ours(domain)), resolver, silent, NOW)
    assert (result.status.value, result.ids()) == ("unknown", {"delegation.unknown"})


def zonefile_inventory(nameservers: tuple[str, ...], domains: list[str]) -> str:
    """The quickstart's zone-file provider with these nameservers, and these domains."""
    text = (ROOT / "examples" / "quickstart.yaml").read_text()
    text = text.replace(
        "nameservers: [ns1.quickstart.test., ns2.quickstart.test.]", f"nameservers: [{', '.join(nameservers)}]"
    )
    head = text[: text.index("domains:")]
    return head + "domains:\n" + "".join(f"  - name: {d}\n" for d in domains)


async def test_the_family_compares_with_the_dns_providers_nameservers_and_stores_states(
    app: App, parent_dns: ParentDns, pdns: PowerDns, tmp_path: Path
) -> None:
    good, lame = child(), child()
    nameservers = ours(good)
    await stored(app, tmp_path, zonefile_inventory(nameservers, [good, lame]))
    delegate_to_us(parent_dns, pdns, good, nameservers)
    parent_dns.delegate(lame, nameservers)  # delegated to servers that do not serve it
    request = MonitorRequest(
        nameservers=[f"{parent_dns.address}:{parent_dns.port}"],
        domain_options=DomainCheckOptions(delegation=options(parent_dns, pdns)),
    )
    with authoritative(pdns, good):
        service = await MonitorService.create(app, request)
        try:
            (run,) = await service.run_once(["delegation"])
        finally:
            await service.close()

    got = {(s.subject, s.check): s.status for s in await check_states(app)}
    assert got == {(good, "delegation"): "ok", (lame, "delegation"): "error"}
    (lame_report,) = [d for d in run.report.domains if d.subject == lame]
    assert lame_report.checks["delegation"].ids() == {"delegation.lame"}

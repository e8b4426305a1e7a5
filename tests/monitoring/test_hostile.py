"""Hostile nameservers: truncation with a closed TCP port, CNAME loops, silence, huge SPF records."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from email_infrastructure.monitoring.audit import audit
from email_infrastructure.monitoring.checks.spf import check_spf
from email_infrastructure.monitoring.context import AuditContext, AuditOptions, DomainTarget
from email_infrastructure.monitoring.findings import CheckStatus
from email_infrastructure.monitoring.resolver import Resolver, Status
from tests.monitoring.hostile import MANY_INCLUDES, HostileDns, start_hostile


@pytest.fixture
async def hostile() -> AsyncIterator[HostileDns]:
    server, transport, tcp = await start_hostile()
    yield server
    transport.close()
    tcp.close()
    await tcp.wait_closed()


def resolver_for(server: HostileDns, timeout: float = 0.2) -> Resolver:
    return Resolver([("127.0.0.1", server.port)], timeout=timeout, attempts=1)


async def test_truncated_udp_and_closed_tcp_is_unknown(hostile: HostileDns) -> None:
    resolver = resolver_for(hostile)
    try:
        answer = await resolver.query("x.tc.hostile.test", "TXT")
    finally:
        await resolver.close()
    assert answer.status.unknown
    assert hostile.tcp_connections == 1


@pytest.mark.parametrize("name", ["a.loop.hostile.test", "n0.chain.hostile.test"])
async def test_cname_loops_and_endless_chains_are_loops_not_missing(hostile: HostileDns, name: str) -> None:
    resolver = resolver_for(hostile)
    try:
        answer = await resolver.query(name, "TXT")
    finally:
        await resolver.close()
    assert answer.status is Status.CNAME_LOOP
    assert answer.status.unknown


async def test_a_record_with_too_many_lookup_terms_is_an_error_from_its_text(hostile: HostileDns) -> None:
    # 498 includes of names that never answer: the text alone makes it a permerror, so neither the
    # silence nor the SPF walk's time bound may turn it into "unknown" (issue 21 item 13)
    resolver = resolver_for(hostile, timeout=0.5)
    ctx = AuditContext(resolver, AuditOptions(spf_timeout=1.0))
    try:
        result = await check_spf(DomainTarget("many.hostile.test", sending_ips=["127.0.0.10"]), ctx)
    finally:
        await resolver.close()
    assert result.status is CheckStatus.ERROR
    assert result.ids() == {"spf.too_many_lookups", "spf.too_long"}  # no timeout, unknown or uncovered IP
    finding = next(f for f in result.findings if f.id == "spf.too_many_lookups")
    assert "the 11th is include:s10.silent.hostile.test in many.hostile.test" in finding.message
    assert f"alone has {MANY_INCLUDES} DNS-querying terms" in finding.message
    assert not any(name.endswith(".silent.hostile.test") for name, _ in hostile.seen)


async def test_a_multi_domain_audit_survives_every_hostile_answer(hostile: HostileDns) -> None:
    domains = ["fine.hostile.test", "many.hostile.test", "silent.hostile.test", "x.tc.hostile.test"]
    domains += ["a.loop.hostile.test", "n0.chain.hostile.test"]
    # the well-behaved domain's answers must arrive however loaded the machine (0.2 s did not
    # always); the silent ones are unknown by their timeout within the deadline all the same
    resolver = resolver_for(hostile, timeout=2.0)
    try:
        report = await audit(
            [DomainTarget(d, selectors=["dkim"], selectors_declared=True) for d in domains],
            AuditContext(resolver),
            {"spf", "dmarc", "mx"},
            [],
            deadline=5.0,
        )
    finally:
        await resolver.close()
    by_name = {r.subject: r for r in report.domains}
    assert sorted(by_name) == sorted(domains)
    assert {c: r.status for c, r in by_name["fine.hostile.test"].checks.items()} == {
        "spf": CheckStatus.OK,
        "dmarc": CheckStatus.OK,
        "mx": CheckStatus.OK,
    }
    assert "spf.too_many_lookups" in by_name["many.hostile.test"].checks["spf"].ids()
    for name in domains[2:]:
        checks = by_name[name].checks
        assert {c: r.status for c, r in checks.items()} == dict.fromkeys(checks, CheckStatus.UNKNOWN), name
        assert not any(i.endswith(".missing") for r in checks.values() for i in r.ids()), name


async def test_the_deadline_makes_a_slow_domain_unknown(hostile: HostileDns) -> None:
    resolver = Resolver([("127.0.0.1", hostile.port)], timeout=5.0, attempts=3)  # a silence costs ~9 s
    try:
        report = await audit(
            [DomainTarget("silent.hostile.test"), DomainTarget("fine.hostile.test", selectors=["dkim"])],
            AuditContext(resolver),
            {"spf", "dmarc"},
            [],
            deadline=0.5,
        )
    finally:
        await resolver.close()
    silent, fine = report.domains
    assert silent.checks["spf"].ids() == {"spf.deadline"}
    assert silent.checks["dmarc"].ids() == {"dmarc.deadline"}
    assert silent.status is CheckStatus.UNKNOWN
    assert fine.status is CheckStatus.OK

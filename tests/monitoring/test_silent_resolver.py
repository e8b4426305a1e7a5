"""A resolver that never answers: said once, every check `unknown`, nothing asked (issue 21 item 22)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator

import pytest

from email_infrastructure.monitoring.audit import DEFAULT_CHECKS, audit
from email_infrastructure.monitoring.context import AuditContext, DomainTarget
from email_infrastructure.monitoring.dnsbl import EVERY_ZONE, blocklist_report, resolve_zones
from email_infrastructure.monitoring.findings import CheckStatus
from email_infrastructure.monitoring.resolver import Resolver
from email_infrastructure.monitoring.targets import plain_target
from tests.fixtures.pdns import PowerDns


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A UDP port on loopback that is bound (no ICMP unreachable) and never replies."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield int(sock.getsockname()[1])
    sock.close()


@pytest.fixture
async def silent(silent_port: int) -> AsyncIterator[Resolver]:
    resolver = Resolver([("127.0.0.1", silent_port)], timeout=0.1, attempts=2)
    yield resolver
    await resolver.close()


async def test_a_silent_resolver_is_said_once_and_every_check_is_unknown(silent: Resolver, silent_port: int) -> None:
    targets = [plain_target("a.test", None), DomainTarget("b.test", sending_ips=["127.0.0.10"])]
    report = await audit(targets, AuditContext(silent), set(DEFAULT_CHECKS), resolve_zones(None))
    assert report.resolver_silent == f"the resolver 127.0.0.1:{silent_port} does not answer (no reply to 2 tries)"
    assert report.status is CheckStatus.UNKNOWN
    assert [d.subject for d in report.domains] == ["a.test", "b.test"]
    assert [i.subject for i in report.ips] == ["127.0.0.10"]
    assert set(report.ips[0].checks) == {"ptr", "dnsbl"}
    assert report.zones == []  # no list was self-tested: no "blocklist … broken" per list
    for subject in [*report.domains, *report.ips]:
        for name, result in subject.checks.items():
            assert result.status is CheckStatus.UNKNOWN
            assert result.ids() == {f"{name}.resolver_silent"}
            assert result.findings[0].hint
    messages = {f.message for s in [*report.domains, *report.ips] for r in s.checks.values() for f in r.findings}
    assert len(messages) == 1  # the same words everywhere: a report can say it once
    assert silent.stats.queries == 2  # the probe's tries, nothing else
    assert report.to_json()["resolver_silent"] == report.resolver_silent


async def test_a_silent_resolver_gives_one_undetermined_row_per_blocklist_target(silent: Resolver) -> None:
    report = await blocklist_report(silent, ["127.0.0.2", "example.test"], resolve_zones(None))
    assert report.resolver_silent
    assert report.zones == []
    assert [(r.target, r.zone, r.status) for r in report.results] == [
        ("127.0.0.2", EVERY_ZONE, "unknown"),
        ("example.test", EVERY_ZONE, "unknown"),
    ]
    assert all(r.meaning.startswith("undetermined") for r in report.results)


async def test_a_resolver_that_refuses_still_answers(pdns: PowerDns) -> None:
    # PowerDNS is authoritative only: it refuses the root, which is still an answer
    resolver = Resolver([(pdns.address, pdns.dns_port)], timeout=1.0)
    try:
        assert await resolver.silence() is None
    finally:
        await resolver.close()

"""The resolver's cache is bounded: the least recently used answer goes first."""

from __future__ import annotations

from email_infrastructure.monitoring.resolver import Resolver
from tests.fixtures.pdns import PowerDns


async def test_the_least_recently_used_answer_is_dropped_first(audit_dns: PowerDns) -> None:
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)], cache_size=2)
    try:
        for name in ("good.test", "plusall.test"):
            await resolver.query(name, "TXT")
        await resolver.query("good.test", "TXT")  # used again: now the most recent
        await resolver.query("nothing.test", "TXT")  # a third answer: plusall.test goes
        hits = resolver.stats.cache_hits
        await resolver.query("good.test", "TXT")
        assert resolver.stats.cache_hits == hits + 1
        await resolver.query("plusall.test", "TXT")
        assert resolver.stats.cache_hits == hits + 1
    finally:
        await resolver.close()

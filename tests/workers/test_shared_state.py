"""Shared state in Redis: the two-tier cache, Cloudflare zone ids and DNS answers seen by every process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from email_infrastructure.core import cache
from email_infrastructure.core.cache import TwoTierCache
from email_infrastructure.core.redis import redis_client
from email_infrastructure.core.settings import Settings
from email_infrastructure.dns.config import CloudflareSettings
from email_infrastructure.dns.providers.base import ProviderContext
from email_infrastructure.dns.providers.cloudflare import CloudflareProvider
from email_infrastructure.monitoring.resolver import Answer, Resolver, Status, decode_answer, encode_answer
from tests.fakes.cloudflare import FakeCloudflare
from tests.fakes.http_server import FakeServer
from tests.fixtures.pdns import PowerDns
from tests.workers.conftest import REDIS_URL


@pytest.fixture
async def redis_settings(settings: Settings, redis_prefix: str) -> AsyncIterator[Settings]:
    """Settings with the test's Redis prefix, the process's shared tier installed on it."""
    scaled = settings.model_copy(update={"redis_url": REDIS_URL, "redis_prefix": redis_prefix})
    cache.install(scaled)
    yield scaled
    await cache.uninstall()


async def test_a_value_set_by_one_process_is_read_by_another(redis_settings: Settings) -> None:
    writer_client, reader_client = redis_client(redis_settings), redis_client(redis_settings)
    writer = TwoTierCache("zones", redis=writer_client, prefix=redis_settings.redis_prefix)
    reader = TwoTierCache("zones", redis=reader_client, prefix=redis_settings.redis_prefix)
    try:
        assert await reader.get("a.test") is None
        await writer.set("a.test", "id-1", ttl=300)
        assert await reader.get("a.test") == "id-1"  # from Redis
        assert await reader.get("a.test") == "id-1"  # then from memory
        assert (reader.hits_shared, reader.hits_local, reader.misses) == (1, 1, 1)
        remaining = await reader_client.pttl(f"{redis_settings.redis_prefix}:cache:zones:a.test")
        assert 0 < remaining <= 300_000  # the TTL went to Redis too
        await writer.delete("a.test")
        other = TwoTierCache("zones", redis=reader_client, prefix=redis_settings.redis_prefix)
        assert await other.get("a.test") is None
    finally:
        await writer_client.aclose()
        await reader_client.aclose()


async def test_without_redis_the_cache_is_memory_only() -> None:
    local = TwoTierCache("zones")
    await local.set("a.test", "id-1", ttl=60)
    assert await local.get("a.test") == "id-1"
    await local.set("gone.test", "x", ttl=0)  # expired on arrival: not kept
    assert await local.get("gone.test") is None
    assert cache.shared("zones") is None  # nothing installed in this test


@pytest.fixture
def fake_cloudflare(monkeypatch: pytest.MonkeyPatch) -> FakeCloudflare:
    monkeypatch.setenv("CF_TEST_TOKEN", "test-token")
    return FakeCloudflare()


async def test_zone_ids_are_shared_through_redis_not_a_file(
    redis_settings: Settings, fake_cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    zone_id = fake_cloudflare.add_zone("shared.test")
    with FakeServer(fake_cloudflare) as server:
        settings = CloudflareSettings(api_token="env:CF_TEST_TOKEN", api_url=server.url + "/client/v4")
        # two hosts: different data directories, one Redis
        first = CloudflareProvider("cf", settings, ProviderContext(data_dir=tmp_path / "host-1"))
        second = CloudflareProvider("cf", settings, ProviderContext(data_dir=tmp_path / "host-2"))
        try:
            assert await first.zone_id("shared.test") == zone_id
            assert fake_cloudflare.calls["GET /zones"] == 1
            assert await second.zone_id("shared.test") == zone_id
            assert fake_cloudflare.calls["GET /zones"] == 1  # the second host asked nobody
        finally:
            for provider in (first, second):
                await provider.client.aclose()
    assert not list(tmp_path.glob("host-*/cache/*.json"))


def test_dns_answers_survive_the_shared_encoding() -> None:
    import dns.rdata
    import dns.rdataclass

    mx = dns.rdata.from_text(dns.rdataclass.IN, "MX", "10 mail.a.test.")
    answers = [
        Answer("a.test", "MX", Status.OK, (mx,), 300, ("alias.a.test",)),
        Answer("a.test", "MX", Status.OK, (), 300, (), ((10, "mail.a.test"),)),
        Answer("a.test", "TXT", Status.OK, (), 60, (), ("v=spf1 -all",)),
        Answer("nx.a.test", "A", Status.NXDOMAIN, ttl=300),
    ]
    for answer in answers:
        assert decode_answer(encode_answer(answer)) == answer


async def test_a_resolver_reads_answers_another_process_stored(redis_settings: Settings) -> None:
    # nothing listens on port 9: an answer can only come from the shared cache
    resolver = Resolver([("127.0.0.1", 9)], timeout=0.2, attempts=1)
    assert resolver.shared_cache is not None
    key = f"{resolver.nameservers!r}|a.test|TXT"
    stored = Answer("a.test", "TXT", Status.OK, (), 300, (), ("v=spf1 -all",))
    writer_client = redis_client(redis_settings)
    try:
        writer = TwoTierCache("dns-answers", redis=writer_client, prefix=redis_settings.redis_prefix)
        await writer.set(key, encode_answer(stored), 300)
        assert await resolver.query("a.test", "TXT") == stored
        assert resolver.stats.queries == 0
    finally:
        await resolver.close()
        await writer_client.aclose()


async def test_a_resolvers_answers_reach_the_shared_tier_by_the_time_it_closes(
    redis_settings: Settings, pdns: PowerDns
) -> None:
    pdns.replace_zones({"behind.test": [("behind.test", "TXT", '"v=spf1 -all"', 0)]})
    resolver = Resolver([(pdns.address, pdns.dns_port)], timeout=2)
    key = f"{resolver.nameservers!r}|behind.test|TXT"
    reader_client = redis_client(redis_settings)
    try:
        answer = await resolver.query("behind.test", "TXT")
        assert answer.status is Status.OK
        await resolver.close()  # written behind: one pipeline for the run's answers
        reader = TwoTierCache("dns-answers", redis=reader_client, prefix=redis_settings.redis_prefix)
        shared = await reader.get(key)
        assert shared is not None and decode_answer(shared) == answer
    finally:
        await reader_client.aclose()


async def test_dns_answers_can_stay_per_process_while_the_rest_is_shared(settings: Settings, redis_prefix: str) -> None:
    scaled = settings.model_copy(
        update={"redis_url": REDIS_URL, "redis_prefix": redis_prefix, "shared_dns_cache": False}
    )
    cache.install(scaled)
    try:
        assert Resolver([("127.0.0.1", 9)]).shared_cache is None
        assert cache.shared("zones") is not None
    finally:
        await cache.uninstall()

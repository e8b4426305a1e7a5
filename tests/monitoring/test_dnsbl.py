"""Blocklists against real test zones: decoding, error answers, self-tests, broken zones."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.dnsbl import (
    Blocklist,
    Decoder,
    ListingResult,
    check_blocklists,
    query_name,
    resolve_zones,
)
from email_infrastructure.monitoring.resolver import Answer, Resolver


def by_key(results: list[ListingResult]) -> dict[tuple[str, str], ListingResult]:
    return {(r.target, r.zone): r for r in results}


def test_query_names() -> None:
    zen = resolve_zones(["zen.spamhaus.org"])[0]
    dbl = resolve_zones(["dbl.spamhaus.org"])[0]
    assert query_name("192.0.2.10", zen) == "10.2.0.192.zen.spamhaus.org"
    assert (
        query_name("2001:db8::1", zen)
        == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org"
    )
    assert query_name("Track.Example.co.uk", dbl) == "example.co.uk.dbl.spamhaus.org"
    assert query_name("192.0.2.10", dbl) is None
    assert query_name("example.com", zen) is None
    ipv4_only = Blocklist("bl.spamcop.net", "ip")
    assert query_name("2001:db8::1", ipv4_only) is None


def test_dqs_key_rewrites_spamhaus_zones_and_hides_the_key() -> None:
    zones = resolve_zones(["zen.spamhaus.org", "bl.spamcop.net"], dqs_key="abcdef123456")
    assert zones[0].zone == "abcdef123456.zen.dq.spamhaus.net"
    assert zones[0].name == "<key>.zen.dq.spamhaus.net"
    assert zones[0].decoder is Decoder.SPAMHAUS_ZEN
    assert zones[1].zone == "bl.spamcop.net"


async def test_ip_listings_are_decoded(ctx: AuditContext) -> None:
    zones = resolve_zones(["zen.spamhaus.org", "bl.spamcop.net"])
    results, health = await check_blocklists(ctx.resolver, ["127.0.0.20", "127.0.0.22", "127.0.0.30"], zones)
    assert all(h.healthy for h in health), health
    r = by_key(results)
    assert (
        r[("127.0.0.20", "zen.spamhaus.org")].status,
        r[("127.0.0.20", "zen.spamhaus.org")].meaning,
    ) == ("listed", "XBL: exploited host")
    pbl = r[("127.0.0.22", "zen.spamhaus.org")]
    assert (pbl.status, pbl.policy) == ("listed", True)
    assert r[("127.0.0.30", "zen.spamhaus.org")].status == "clean"
    assert r[("127.0.0.20", "bl.spamcop.net")].status == "listed"


@pytest.mark.parametrize("zone", ["zen.spamhaus.org", "mirror.example-bl.test"])
async def test_error_codes_are_never_listings(ctx: AuditContext, zone: str) -> None:
    """127.255.255.0/24 is an error answer on every list (dnsbl.md §3), Spamhaus-decoded or not."""
    zones = resolve_zones([zone, zone])  # the same list twice: one health entry
    results, health = await check_blocklists(ctx.resolver, ["127.0.0.21", "127.0.0.40", "127.0.0.41"], zones)
    assert [(h.zone, h.healthy) for h in health] == [(zone, True)]
    served = [r for r in results if r.codes]
    assert served
    assert {r.status for r in served} == {"unknown"}
    assert all("127.255.255." in r.codes[0] for r in served)


async def test_a_list_answering_only_error_codes_is_broken(ctx: AuditContext) -> None:
    results, health = await check_blocklists(
        ctx.resolver, ["127.0.0.40"], resolve_zones(["public-resolver.example-bl.test"])
    )
    assert not health[0].healthy
    assert "public/open resolver" in health[0].reason
    assert [r.status for r in results] == ["unknown"]


async def test_domain_lists_decode_bitmasks_and_refusals(ctx: AuditContext) -> None:
    zones = resolve_zones(["dbl.spamhaus.org", "multi.uribl.com", "multi.surbl.org"])
    results, health = await check_blocklists(
        ctx.resolver,
        ["listed.test", "tracked.test", "refused.test", "confused.test", "clean.test"],
        zones,
    )
    assert all(h.healthy for h in health), health
    r = by_key(results)
    assert r[("listed.test", "dbl.spamhaus.org")].meaning == "low-reputation domain"
    assert r[("tracked.test", "multi.uribl.com")].meaning == "grey"
    assert r[("tracked.test", "multi.surbl.org")].meaning == "MW (malware) + ABUSE"
    refused = r[("refused.test", "multi.uribl.com")]
    assert refused.status == "unknown"
    assert "refused" in refused.meaning
    assert r[("confused.test", "dbl.spamhaus.org")].status == "unknown"
    assert r[("clean.test", "multi.uribl.com")].status == "clean"


async def test_broken_and_refusing_zones_are_reported_broken_never_listing(
    ctx: AuditContext,
) -> None:
    zones = resolve_zones(
        [
            "everything.example-bl.test",
            "public-resolver.example-bl.test",
            "not-served.example-bl.test",
            "bl.spamcop.net",
        ]
    )
    ips = [f"127.0.0.{n}" for n in range(30, 60)]
    results, health = await check_blocklists(ctx.resolver, ips, zones)
    state = {h.zone: h for h in health}
    assert not state["everything.example-bl.test"].healthy
    assert "answers everything" in state["everything.example-bl.test"].reason
    assert not state["public-resolver.example-bl.test"].healthy
    assert not state["not-served.example-bl.test"].healthy
    assert state["bl.spamcop.net"].healthy
    assert not [r for r in results if r.status == "listed"]
    assert {r.status for r in results if r.zone != "bl.spamcop.net"} == {"unknown"}


async def test_self_tests_run_alongside_the_lookups(ctx: AuditContext) -> None:
    """The lookups start while the self-tests are still waiting: one round trip, not two."""
    lookups_started = asyncio.Event()

    class Gated(Resolver):
        async def query(self, name: str, rtype: str) -> Answer:
            await lookups_started.wait()  # a self-test answers only once the lookups are on their way
            return await super().query(name, rtype)

        async def query_many(self, names: Sequence[str], rtype: str) -> list[Answer]:
            lookups_started.set()
            return await super().query_many(names, rtype)

    resolver = Gated(ctx.resolver.nameservers, shared_cache=None)
    try:
        # the guard only turns a deadlock (self-tests first, as before) into a failure
        async with asyncio.timeout(30):
            results, health = await check_blocklists(
                resolver,
                ["127.0.0.20", "127.0.0.40"],
                resolve_zones(["zen.spamhaus.org", "not-served.example-bl.test"]),
            )
    finally:
        await resolver.close()
    state = {h.zone: h.healthy for h in health}
    assert state == {"zen.spamhaus.org": True, "not-served.example-bl.test": False}
    r = by_key(results)
    assert r[("127.0.0.20", "zen.spamhaus.org")].status == "listed"
    # the broken zone's answers are not read, even though they arrived before its self-test did
    assert {r[(ip, "not-served.example-bl.test")].broken for ip in ("127.0.0.20", "127.0.0.40")} == {True}

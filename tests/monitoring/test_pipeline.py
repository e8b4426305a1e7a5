"""`Resolver.query_many` (monitoring/pipeline.py): the answers of `query`, without a task per query."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import dns.message
import dns.rrset

from email_infrastructure.monitoring.resolver import Resolver, Status
from tests.fixtures.pdns import PowerDns

NAMES = [
    "20.0.0.127.zen.spamhaus.org",  # listed
    "30.0.0.127.zen.spamhaus.org",  # not listed: NXDOMAIN
    "mx.cnamemx.test",  # a CNAME to follow
    "good.test",
    "nope.good.test",
    "example.org",  # not served: REFUSED
    "20.0.0.127.zen.spamhaus.org",  # asked twice, sent once
    "a" * 70 + ".test",  # a label too long to encode: cannot exist
]


async def test_query_many_gives_the_answers_of_query(audit_dns: PowerDns) -> None:
    server = [(audit_dns.address, audit_dns.dns_port)]
    one_by_one, bulk = Resolver(server, shared_cache=None), Resolver(server, shared_cache=None)
    try:
        expected = [await one_by_one.query(name, "A") for name in NAMES]
        answers = await bulk.query_many(NAMES, "A")
        assert [(a.status, a.values(), a.cnames) for a in answers] == [
            (a.status, a.values(), a.cnames) for a in expected
        ]
        assert answers[0].status is Status.OK and answers[1].status is Status.NXDOMAIN
        assert answers[2].cnames == ("mail.cnamemx.test",) and answers[5].status is Status.REFUSED
        sent = bulk.stats.queries
        assert sent == one_by_one.stats.queries  # the duplicate sent once, the unencodable name never
        again = await bulk.query_many(NAMES[:2], "A")
        assert [a.status for a in again] == [Status.OK, Status.NXDOMAIN]
        assert bulk.stats.queries == sent  # answered from the cache, negative answers included
        assert (await bulk.query("20.0.0.127.zen.spamhaus.org", "A")).status is Status.OK
        assert bulk.stats.queries == sent  # query() shares that cache
    finally:
        await one_by_one.close()
        await bulk.close()


async def test_query_many_on_a_silent_server_is_unknown_after_every_attempt() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        resolver = Resolver([("127.0.0.1", silent.getsockname()[1])], timeout=0.2, attempts=2, shared_cache=None)
        try:
            answers = await resolver.query_many(["a.test", "b.test", "c.test"], "A")
        finally:
            await resolver.close()
    assert [a.status for a in answers] == [Status.TIMEOUT] * 3
    assert resolver.stats.timeouts == 6 and resolver.stats.retries == 3
    assert resolver._cache == {}  # an unknown answer is never cached


class _Hostile(asyncio.DatagramProtocol):
    """Answers each name's first query with a reply to another question, later ones correctly."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        name = query.question[0].name.to_text()
        self.seen[name] = self.seen.get(name, 0) + 1
        if self.seen[name] == 1:
            wrong = dns.message.make_response(dns.message.make_query("evil.test", "A"))
            wrong.id = query.id
            wrong.answer.append(dns.rrset.from_text("evil.test.", 300, "IN", "A", "127.0.0.2"))
            self.transport.sendto(wrong.to_wire(), addr)
            return
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "127.0.0.9"))
        self.transport.sendto(reply.to_wire(), addr)


async def test_query_many_ignores_replies_to_other_questions() -> None:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Hostile, local_addr=("127.0.0.1", 0))
    resolver = Resolver([("127.0.0.1", transport.get_extra_info("sockname")[1])], timeout=1.0, shared_cache=None)
    try:
        answers = await resolver.query_many(["one.test", "two.test"], "A")
    finally:
        await resolver.close()
        transport.close()
    assert [a.values() for a in answers] == [["127.0.0.9"], ["127.0.0.9"]]
    assert protocol.seen == {"one.test.": 2, "two.test.": 2}


def test_a_resolver_still_answers_from_a_second_event_loop(audit_dns: PowerDns) -> None:
    """Its socket's reader belongs to a loop: a later asyncio.run gets a socket of its own."""
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)], timeout=1.0, shared_cache=None)
    first = asyncio.run(resolver.query("good.test", "MX"))
    resolver._cache.clear()
    second = asyncio.run(resolver.query_many(["good.test"], "MX"))[0]
    asyncio.run(resolver.close())
    assert first.status is Status.OK and second.status is Status.OK
    assert resolver.stats.timeouts == 0

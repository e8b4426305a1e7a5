"""The lean resolver: caching (negative too), in-flight sharing, timeouts as unknown, hostile replies."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import dns.message
import dns.rrset
import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.monitoring.resolver import Resolver, Status, parse_nameserver
from tests.fixtures.pdns import PowerDns


def test_parse_nameserver() -> None:
    assert parse_nameserver("127.0.0.2") == ("127.0.0.2", 53)
    assert parse_nameserver("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert parse_nameserver("[::1]:5300") == ("::1", 5300)
    with pytest.raises(UserError):
        parse_nameserver("dns.example:53")


async def test_positive_and_negative_answers_are_cached(audit_dns: PowerDns) -> None:
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)])
    try:
        first = await resolver.query("good.test", "MX")
        assert first.status is Status.OK
        missing = await resolver.query("nope.good.test", "TXT")
        assert missing.status is Status.NXDOMAIN
        nodata = await resolver.query("good.test", "SRV")
        assert nodata.status is Status.NODATA
        sent = resolver.stats.queries
        for _ in range(3):
            await resolver.query("good.test", "MX")
            await resolver.query("nope.good.test", "TXT")
        assert resolver.stats.queries == sent
        results = await asyncio.gather(*(resolver.query("nothing.test", "MX") for _ in range(20)))
        assert {r.status for r in results} == {Status.OK}
        assert resolver.stats.queries == sent + 1  # one query shared by 20 callers
    finally:
        await resolver.close()


async def test_cname_chains_are_followed(audit_dns: PowerDns) -> None:
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)])
    try:
        answer = await resolver.query("mx.cnamemx.test", "A")
        assert answer.values() == ["127.0.0.10"]
        assert answer.cnames == ("mail.cnamemx.test",)
    finally:
        await resolver.close()


async def test_a_silent_server_is_unknown_not_missing() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        resolver = Resolver([("127.0.0.1", port)], timeout=0.2, attempts=2)
        try:
            answer = await resolver.query("good.test", "TXT")
        finally:
            await resolver.close()
    assert answer.status is Status.TIMEOUT
    assert answer.status.unknown
    assert resolver.stats.timeouts == 2


async def test_a_refusing_server_is_unknown(audit_dns: PowerDns) -> None:
    resolver = Resolver([(audit_dns.address, audit_dns.dns_port)])
    try:
        answer = await resolver.query("example.org", "TXT")  # not served: PowerDNS refuses
    finally:
        await resolver.close()
    assert answer.status is Status.REFUSED
    assert answer.status.unknown


class _Hostile(asyncio.DatagramProtocol):
    """Answers the first query with garbage and a reply to another question; later ones correctly."""

    def __init__(self) -> None:
        self.seen = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        self.seen += 1
        if self.seen == 1:
            wrong = dns.message.make_response(dns.message.make_query("evil.test", "TXT"))
            wrong.id = query.id
            wrong.answer.append(dns.rrset.from_text("evil.test.", 300, "IN", "TXT", '"v=spf1 +all"'))
            self.transport.sendto(wrong.to_wire(), addr)
            return
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "TXT", '"v=spf1 -all"'))
        self.transport.sendto(reply.to_wire(), addr)


async def test_replies_to_other_questions_are_ignored() -> None:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Hostile, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    resolver = Resolver([("127.0.0.1", port)], timeout=0.5)
    try:
        answer = await resolver.query("victim.test", "TXT")
    finally:
        await resolver.close()
        transport.close()
    assert answer.texts() == ["v=spf1 -all"]
    assert protocol.seen == 2


class _Held(asyncio.DatagramProtocol):
    """Holds every query until `answer_all`, then answers each (and later ones) with 127.0.0.9."""

    def __init__(self) -> None:
        self.held: list[tuple[bytes, tuple[str, int]]] = []
        self.arrived = asyncio.Event()
        self.released = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.arrived.set()
        if self.released:
            self._answer(data, addr)
        else:
            self.held.append((data, addr))

    def answer_all(self) -> None:
        self.released = True
        for data, addr in self.held:
            self._answer(data, addr)

    def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 300, "IN", "A", "127.0.0.9"))
        self.transport.sendto(reply.to_wire(), addr)


async def test_a_cancelled_first_caller_does_not_cancel_the_lookup_for_the_others() -> None:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(_Held, local_addr=("127.0.0.1", 0))
    resolver = Resolver([("127.0.0.1", transport.get_extra_info("sockname")[1])], timeout=4.0, shared_cache=None)
    try:
        first = asyncio.ensure_future(resolver.query("held.test", "A"))
        await server.arrived.wait()  # the first caller's query is out, unanswered
        second = asyncio.ensure_future(resolver.query("held.test", "A"))
        await asyncio.sleep(0)  # one turn of the loop: the second caller now waits for the same lookup
        first.cancel()  # its deadline passed
        assert (await asyncio.gather(first, return_exceptions=True))[0].__class__ is asyncio.CancelledError
        server.answer_all()
        answer = await second
    finally:
        await resolver.close()
        transport.close()
    assert answer.values() == ["127.0.0.9"]

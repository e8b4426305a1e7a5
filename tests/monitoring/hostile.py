"""A misbehaving authoritative server on loopback (UDP and TCP), for the failures PowerDNS won't produce.

Names under `hostile.test`:
- `*.silent.hostile.test`: never answered;
- `*.tc.hostile.test`: truncated over UDP, and the TCP connection is closed without a reply;
- `*.loop.hostile.test`: every name is a CNAME to the other of `a`/`b` (a loop, one hop per reply);
- `n<k>.chain.hostile.test`: a CNAME to `n<k+1>` (an endless chain);
- `many.hostile.test`: an SPF record with 498 includes of silent names;
- `fine.hostile.test`: a clean domain (SPF, DMARC, MX) answered correctly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import cast

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

MANY_INCLUDES = 498


def _txt(*strings: str) -> str:
    """TXT presentation: one record of several ≤255-byte character-strings."""
    return " ".join(f'"{s}"' for s in strings)


def _many_spf() -> str:
    record = "v=spf1 " + " ".join(f"include:s{n}.silent.hostile.test" for n in range(MANY_INCLUDES)) + " -all"
    return _txt(*(record[i : i + 255] for i in range(0, len(record), 255)))


RECORDS: dict[tuple[str, str], list[str]] = {
    ("fine.hostile.test", "TXT"): [_txt("v=spf1 ip4:127.0.0.10 -all")],
    ("_dmarc.fine.hostile.test", "TXT"): [_txt("v=DMARC1; p=reject; rua=mailto:d@fine.hostile.test")],
    ("fine.hostile.test", "MX"): ["10 mail.fine.hostile.test."],
    ("mail.fine.hostile.test", "A"): ["127.0.0.10"],
    ("many.hostile.test", "TXT"): [_many_spf()],
}


@dataclass
class HostileDns:
    """The server's address and what it was asked."""

    port: int = 0
    seen: list[tuple[str, str]] = field(default_factory=list)
    tcp_connections: int = 0

    def reply(self, wire: bytes) -> bytes | None:
        """The reply to one UDP query, or None to stay silent."""
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rtype = dns.rdatatype.to_text(question.rdtype)
        self.seen.append((name, rtype))
        if name.endswith(".silent.hostile.test") or name == "silent.hostile.test":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if name.endswith("tc.hostile.test"):
            response.flags |= dns.flags.TC
            return response.to_wire()
        labels = name.split(".")
        if name.endswith("loop.hostile.test"):
            other = ("b" if labels[0] == "a" else "a") + ".loop.hostile.test."
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "CNAME", other))
        elif name.endswith("chain.hostile.test"):
            step = int(labels[0][1:]) if labels[0][1:].isdigit() else 0
            target = f"n{step + 1}.chain.hostile.test."
            response.answer.append(dns.rrset.from_text(name + ".", 60, "IN", "CNAME", target))
        elif (name, rtype) in RECORDS:
            response.answer.append(dns.rrset.from_text_list(name + ".", 60, "IN", rtype, RECORDS[(name, rtype)]))
        elif not any(owner == name for owner, _ in RECORDS):
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: HostileDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = self.server.reply(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


async def start_hostile() -> tuple[HostileDns, asyncio.DatagramTransport, asyncio.Server]:
    """Start the server on 127.0.0.1 (one port for UDP and TCP)."""
    server = HostileDns()
    loop = asyncio.get_running_loop()

    async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.tcp_connections += 1
        await reader.read(2)  # take the length prefix, then hang up mid-exchange
        writer.close()

    tcp = await asyncio.start_server(close_at_once, "127.0.0.1", 0)
    server.port = tcp.sockets[0].getsockname()[1]
    transport, _ = await loop.create_datagram_endpoint(lambda: _Udp(server), local_addr=("127.0.0.1", server.port))
    return server, transport, tcp

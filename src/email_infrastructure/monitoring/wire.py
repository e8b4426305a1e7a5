"""A lean decoder of DNS replies for the record types audits read most (RFC 1035 §4).

dnspython's full message parser builds a Name object per label and an Rdata per record; for the
A/AAAA/TXT/MX/PTR/CNAME answers of an audit that is most of the client's CPU. This decoder reads
only what the checks use and refuses anything malformed (the caller then treats the reply as lost).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
_RR = struct.Struct("!HHIH")
_SOA = 6
MAX_POINTERS = 64


@dataclass
class Reply:
    """The parts of a reply the resolver needs."""

    rcode: int
    truncated: bool
    #: (owner, type, ttl, value): value is an address, a joined TXT string, (preference, host) or a host
    answers: list[tuple[str, int, int, Any]] = field(default_factory=list)
    negative_ttl: int | None = None


def read_name(wire: bytes, offset: int) -> tuple[str, int]:
    """A (possibly compressed) name at `offset`: lowercase, no trailing dot; and the offset after it."""
    labels: list[str] = []
    end = None
    jumps = 0
    while True:
        length = wire[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > MAX_POINTERS:
                raise ValueError("compression loop")
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length & 0xC0:
            raise ValueError("unknown label type")
        offset += 1
        if length == 0:
            break
        labels.append(wire[offset : offset + length].decode("ascii", "replace").lower())
        offset += length
    return ".".join(labels), end if end is not None else offset


def skip_name(wire: bytes, offset: int) -> int:
    """The offset after the name at `offset`: `read_name`'s checks, without building the name."""
    end = None
    jumps = 0
    while True:
        length = wire[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > MAX_POINTERS:
                raise ValueError("compression loop")
            offset = ((length & 0x3F) << 8) | wire[offset + 1]
            continue
        if length & 0xC0:
            raise ValueError("unknown label type")
        offset += 1 + length
        if length == 0:
            return end if end is not None else offset


def _value(wire: bytes, rtype: int, start: int, length: int) -> Any:
    rdata = wire[start : start + length]
    if len(rdata) != length:
        raise ValueError("truncated rdata")
    if (rtype == 1 and length == 4) or (rtype == 28 and length == 16):
        return str(ipaddress.ip_address(rdata))
    if rtype == 16:
        parts, i = [], 0
        while i < length:
            size = rdata[i]
            parts.append(rdata[i + 1 : i + 1 + size])
            i += 1 + size
        if i != length:
            raise ValueError("bad TXT rdata")
        return b"".join(parts).decode("utf-8", "replace")
    if rtype == 15:
        return (int.from_bytes(rdata[:2], "big"), read_name(wire, start + 2)[0])
    if rtype in (2, 5, 12):
        return read_name(wire, start)[0]
    return None


def decode(wire: bytes) -> Reply:
    """Decode a reply; raises ValueError (or IndexError/struct.error) when it is malformed."""
    if len(wire) < 12:
        raise ValueError("shorter than a DNS header")
    flags = int.from_bytes(wire[2:4], "big")
    qdcount, ancount, nscount = (int.from_bytes(wire[i : i + 2], "big") for i in (4, 6, 8))
    reply = Reply(rcode=flags & 0x0F, truncated=bool(flags & 0x0200))
    offset = 12
    for _ in range(qdcount):
        offset = skip_name(wire, offset) + 4  # the resolver matched the question byte for byte already
    for _ in range(ancount):
        owner, offset = read_name(wire, offset)
        rtype, _cls, ttl, length = _RR.unpack_from(wire, offset)
        offset += _RR.size
        value = _value(wire, rtype, offset, length)
        if value is not None:
            reply.answers.append((owner, rtype, ttl, value))
        offset += length
    for _ in range(nscount):
        offset = skip_name(wire, offset)
        rtype, _cls, ttl, length = _RR.unpack_from(wire, offset)
        offset += _RR.size
        if rtype == _SOA and length >= 20:  # MINIMUM is the last 32 bits of the SOA rdata
            minimum = int.from_bytes(wire[offset + length - 4 : offset + length], "big")
            reply.negative_ttl = min(ttl, minimum)
        offset += length
    return reply

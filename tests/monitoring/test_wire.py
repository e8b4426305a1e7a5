"""The lean reply decoder against dnspython-built messages, and hostile input."""

from __future__ import annotations

import dns.message
import dns.rrset
import pytest

from email_infrastructure.monitoring import wire


def reply(name: str, rtype: str, *rrsets: tuple[str, str, str]) -> bytes:
    response = dns.message.make_response(dns.message.make_query(name, rtype))
    for owner, kind, value in rrsets:
        response.answer.append(dns.rrset.from_text(owner, 300, "IN", kind, value))
    return response.to_wire()


def test_decodes_the_types_audits_read() -> None:
    decoded = wire.decode(reply("Ex.test.", "TXT", ("ex.test.", "TXT", '"v=spf1 " "-all"')))
    assert decoded.answers == [("ex.test", 16, 300, "v=spf1 -all")]
    mx = wire.decode(reply("ex.test.", "MX", ("ex.test.", "MX", "10 mail.ex.test."), ("ex.test.", "MX", "0 .")))
    assert sorted(a[3] for a in mx.answers) == [(0, ""), (10, "mail.ex.test")]
    chain = wire.decode(
        reply("a.ex.test.", "A", ("a.ex.test.", "CNAME", "b.ex.test."), ("b.ex.test.", "A", "127.0.0.1"))
    )
    assert [(a[0], a[1], a[3]) for a in chain.answers] == [("a.ex.test", 5, "b.ex.test"), ("b.ex.test", 1, "127.0.0.1")]
    v6 = wire.decode(reply("ex.test.", "AAAA", ("ex.test.", "AAAA", "::1")))
    assert v6.answers[0][3] == "::1"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00" * 5,
        bytes.fromhex("1234818000010001000000000178000010000100c00c0010000100000e10000a"),  # rdata cut short
        bytes.fromhex("123481800001000000000000c00c00010001"),  # question name points at itself
    ],
)
def test_malformed_replies_raise(data: bytes) -> None:
    with pytest.raises((ValueError, IndexError)):
        wire.decode(data)

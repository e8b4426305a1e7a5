"""The verdicts (delivery/verdicts.py) over a `VerifierDns` held in memory: what the verifier makes
of the answers DNS and the SPF walker give, whatever resolver and walker the caller has."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.delivery.message import build_message, sign, wire_bytes
from email_infrastructure.delivery.verdicts import (
    Address,
    AuthStatus,
    SpfWalk,
    TxtAnswer,
    VerifierDns,
    check_spf,
    verify_message,
)

DOMAIN = "acme-outreach.test"


class MemoryDns:
    """TXT from a dict (None: the server did not answer); the SPF walk's outcome is given."""

    def __init__(self, txt: Mapping[str, list[str] | None], walk: SpfWalk | None = None) -> None:
        self.txt_records = txt
        self.walk = walk or SpfWalk("+")
        self.walked: list[tuple[str, str, Address]] = []

    async def txt(self, name: str) -> TxtAnswer:
        texts = self.txt_records.get(name.lower().rstrip("."), [])
        return TxtAnswer(error="timeout") if texts is None else TxtAnswer(texts)

    def spf_records(self, texts: list[str]) -> list[str]:
        return [t for t in texts if t.startswith("v=spf1")]

    async def walk_spf(self, domain: str, record: str, ip: Address) -> SpfWalk:
        self.walked.append((domain, record, ip))
        return self.walk

    def organizational_domain(self, name: str) -> str:
        return ".".join(name.rstrip(".").split(".")[-2:])


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_keypair(1024)  # only the signature's maths is under test: the small key is faster


def records(public: str) -> dict[str, list[str] | None]:
    return {
        DOMAIN: ["v=spf1 ip4:192.0.2.0/24 -all"],
        f"s1._domainkey.{DOMAIN}": [f"v=DKIM1; k=rsa; p={public}"],
        f"_dmarc.{DOMAIN}": ["v=DMARC1; p=reject"],
    }


def signed(private: str, sender: str = f"ann@{DOMAIN}") -> bytes:
    raw = wire_bytes(build_message(sender, "x@receiver.test", DOMAIN, "t0"))
    return sign(raw, DOMAIN, "s1", private)


def test_the_dns_of_the_project_satisfies_the_protocol() -> None:
    dns: VerifierDns = MemoryDns({})  # mypy checks the fake and services.message_auth.ResolverDns alike
    assert dns is not None


async def test_a_walk_that_matches_passes_and_every_mechanism_aligns(keypair: tuple[str, str]) -> None:
    private, public = keypair
    dns = MemoryDns(records(public))
    found = await verify_message(signed(private), ip="192.0.2.7", mail_from=f"b@{DOMAIN}", helo="mx", dns=dns)
    assert found.status is AuthStatus.PASS, found.to_json()
    assert found.dmarc.detail == f"aligned: spf, dkim d={DOMAIN}; p=reject"
    assert [(d, r) for d, r, _ in dns.walked] == [(DOMAIN, "v=spf1 ip4:192.0.2.0/24 -all")]


@pytest.mark.parametrize(
    ("walk", "result"),
    [
        (SpfWalk("-", "ip4 did not match"), "fail"),
        (SpfWalk("~"), "softfail"),
        (SpfWalk("?"), "neutral"),
        (SpfWalk("unknown"), "temperror"),
        (SpfWalk("error"), "permerror"),
        (SpfWalk(stopped="more than 10 lookups"), "permerror"),
    ],
)
async def test_the_walks_outcome_is_the_rfc_result(walk: SpfWalk, result: str) -> None:
    verdict = await check_spf(MemoryDns({DOMAIN: ["v=spf1 -all"]}, walk), "192.0.2.7", f"b@{DOMAIN}", "mx")
    assert verdict.result == result
    assert verdict.detail == (walk.stopped or walk.why or "192.0.2.7 against 'v=spf1 -all'")


async def test_spf_without_a_walk_none_two_records_dns_down_and_the_helo_for_a_null_sender() -> None:
    none = await check_spf(MemoryDns({}), "192.0.2.7", f"b@{DOMAIN}", "mx")
    two = await check_spf(MemoryDns({DOMAIN: ["v=spf1 -all", "v=spf1 +all"]}), "192.0.2.7", f"b@{DOMAIN}", "mx")
    down = await check_spf(MemoryDns({DOMAIN: None}), "192.0.2.7", f"b@{DOMAIN}", "mx")
    assert (none.result, two.result, down.result) == ("none", "permerror", "temperror")
    assert down.detail == f"TXT {DOMAIN} did not answer (timeout)"
    helo = MemoryDns({"mx.acme-outreach.test": ["v=spf1 a -all"]})
    assert (await check_spf(helo, "::ffff:192.0.2.7", "", "MX.acme-outreach.test.")).domain == "mx.acme-outreach.test"
    assert str(helo.walked[0][2]) == "192.0.2.7"  # an IPv4-mapped address is walked as IPv4


async def test_a_changed_body_fails_dkim_and_without_spf_dmarc_fails(keypair: tuple[str, str]) -> None:
    private, public = keypair
    zone = records(public)
    tampered = signed(private).replace(b"send-test t0", b"send-test t9")
    found = await verify_message(
        tampered, ip="198.51.100.1", mail_from=f"b@{DOMAIN}", helo="mx", dns=MemoryDns(zone, SpfWalk("-"))
    )
    assert (found.spf.result, found.dkim[0].result, found.dmarc.result) == ("fail", "fail", "fail")
    assert found.dmarc.detail == "no aligned SPF or DKIM pass; p=reject"

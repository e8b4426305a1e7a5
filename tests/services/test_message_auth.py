"""The service's verifier (delivery/verdicts.py over the project's resolver and SPF walker) on messages
signed here, against a zone held in memory (no DNS server): the outcomes the end-to-end test does
not reach (no record, subdomains, DNS down, other signers)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from email_infrastructure.core.rsa_keys import generate_keypair
from email_infrastructure.delivery.message import build_message, sign
from email_infrastructure.monitoring.resolver import Answer, Resolver, Status
from email_infrastructure.services.message_auth import AuthStatus, verify_message

DOMAIN = "acme-outreach.test"


class ZoneResolver(Resolver):
    """Answers TXT from a dict (None: the server fails); everything else does not exist."""

    def __init__(self, txt: Mapping[str, list[str] | None]) -> None:
        super().__init__([("127.0.0.1", 9)])
        self.txt = txt

    async def query(self, name: str, rtype: str) -> Answer:
        """The dict's answer for `name`."""
        name = name.lower().rstrip(".")
        if rtype != "TXT" or name not in self.txt:
            return Answer(name, rtype, Status.NXDOMAIN)
        texts = self.txt[name]
        if texts is None:
            return Answer(name, rtype, Status.SERVFAIL)
        return Answer(name, rtype, Status.OK, data=tuple(texts)) if texts else Answer(name, rtype, Status.NODATA)


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return generate_keypair(1024)  # only the signature's maths is under test: the small key is faster


def zone(public: str, **changes: list[str] | None) -> dict[str, list[str] | None]:
    records: dict[str, list[str] | None] = {
        DOMAIN: ["v=spf1 ip4:192.0.2.0/24 -all", "some-site-verification=1"],
        f"dkim._domainkey.{DOMAIN}": [f"v=DKIM1; k=rsa; p={public}"],
        f"_dmarc.{DOMAIN}": ["v=DMARC1; p=reject; sp=quarantine"],
    }
    records.update({k.replace("__", "."): v for k, v in changes.items()})
    return records


def message(private: str, sender: str = f"ann@{DOMAIN}", signer: str = DOMAIN) -> bytes:
    built = build_message(sender, "x@receiver.test", sender.partition("@")[2], "t0")
    raw = built.as_bytes(policy=built.policy.clone(linesep="\r\n"))
    return sign(raw, signer, "dkim", private)


async def test_signed_here_and_sent_from_an_authorised_ip_passes(keypair: tuple[str, str]) -> None:
    private, public = keypair
    found = await verify_message(
        message(private), ip="192.0.2.7", mail_from=f"ann@{DOMAIN}", helo="mx", resolver=ZoneResolver(zone(public))
    )
    assert found.status is AuthStatus.PASS, found.to_json()
    assert found.dmarc.detail == f"aligned: spf, dkim d={DOMAIN}; p=reject"


async def test_another_ip_is_an_spf_fail_but_an_aligned_signature_still_passes_dmarc(keypair: tuple[str, str]) -> None:
    private, public = keypair
    found = await verify_message(
        message(private), ip="198.51.100.1", mail_from=f"ann@{DOMAIN}", helo="mx", resolver=ZoneResolver(zone(public))
    )
    assert (found.spf.result, found.dkim[0].result, found.dmarc.result) == ("fail", "pass", "pass")
    assert found.status is AuthStatus.FAIL


async def test_a_subdomain_sender_aligns_relaxed_and_takes_the_subdomain_policy(keypair: tuple[str, str]) -> None:
    private, public = keypair
    records = zone(public)
    records[f"news.{DOMAIN}"] = ["v=spf1 ip4:192.0.2.7 -all"]
    found = await verify_message(
        message(private, sender=f"ann@news.{DOMAIN}"),
        ip="192.0.2.7",
        mail_from=f"ann@news.{DOMAIN}",
        helo="mx",
        resolver=ZoneResolver(records),
    )
    # DKIM d= is the parent: relaxed alignment (same organizational domain) accepts it
    assert found.dmarc.result == "pass" and f"dkim d={DOMAIN}" in found.dmarc.detail
    assert found.dmarc.detail.endswith("p=quarantine")  # found at the organizational domain: sp applies


async def test_strict_alignment_refuses_the_parent_domains_signature(keypair: tuple[str, str]) -> None:
    private, public = keypair
    records = zone(public, _dmarc__acme_outreach__test=None)
    records[f"_dmarc.{DOMAIN}"] = ["v=DMARC1; p=reject; adkim=s; aspf=s"]
    found = await verify_message(
        message(private, sender=f"ann@news.{DOMAIN}"),
        ip="192.0.2.7",
        mail_from=f"bounce@{DOMAIN}",
        helo="mx",
        resolver=ZoneResolver(records),
    )
    assert (found.spf.result, found.dkim[0].result) == ("pass", "pass")
    assert found.dmarc.result == "fail"


async def test_no_records_are_none_and_a_missing_key_is_a_permerror(keypair: tuple[str, str]) -> None:
    private, _ = keypair
    found = await verify_message(message(private), ip="192.0.2.7", mail_from="", helo=DOMAIN, resolver=ZoneResolver({}))
    assert (found.spf.result, found.dmarc.result) == ("none", "none")
    assert [(d.result, d.detail) for d in found.dkim] == [("permerror", f"no key at dkim._domainkey.{DOMAIN}")]
    assert found.status is AuthStatus.FAIL


async def test_a_dns_failure_is_undetermined_not_a_failure(keypair: tuple[str, str]) -> None:
    private, public = keypair
    records = zone(public)
    records[f"dkim._domainkey.{DOMAIN}"] = None
    records[DOMAIN] = None
    found = await verify_message(
        message(private), ip="192.0.2.7", mail_from=f"ann@{DOMAIN}", helo="mx", resolver=ZoneResolver(records)
    )
    assert (found.spf.result, found.dkim[0].result, found.dmarc.result) == ("temperror",) * 3
    assert found.status is AuthStatus.UNKNOWN


async def test_an_unsigned_message_fails(keypair: tuple[str, str]) -> None:
    _, public = keypair
    built = build_message(f"ann@{DOMAIN}", "x@receiver.test", DOMAIN, "t1")
    found = await verify_message(
        built.as_bytes(), ip="192.0.2.7", mail_from=f"ann@{DOMAIN}", helo="mx", resolver=ZoneResolver(zone(public))
    )
    assert found.dkim == [] and found.dmarc.result == "pass"  # SPF alone aligns
    assert found.status is AuthStatus.FAIL

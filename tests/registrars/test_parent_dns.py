"""The parent (TLD) PowerDNS refers delegated children, and "our" PowerDNS is authoritative or lame (registrars.md §7)."""

from __future__ import annotations

import secrets

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.fixtures.parent_dns import DELEGATION_TTL, ParentDns, ask, authoritative
from tests.fixtures.pdns import PowerDns


def child() -> str:
    """A name no other test delegates (the parent lives for the whole session)."""
    return f"acme-{secrets.token_hex(4)}.test"


def names(message: dns.message.Message, section: str, rdtype: str) -> dict[str, set[str]]:
    """owner → rdata texts of one type in one section, lower-case without trailing dots."""
    found: dict[str, set[str]] = {}
    for rrset in getattr(message, section):
        if rrset.rdtype == dns.rdatatype.from_text(rdtype):
            owner = rrset.name.to_text().rstrip(".").lower()
            found.setdefault(owner, set()).update(r.to_text().rstrip(".").lower() for r in rrset)
    return found


def test_a_non_recursive_ns_query_gets_a_referral_with_glue(parent_dns: ParentDns) -> None:
    domain = child()
    parent_dns.delegate(domain, [f"ns1.{domain}", "ns2.dns-host.example"], {f"ns1.{domain}": ["127.0.0.1", "::1"]})

    referral = parent_dns.referral(domain)

    assert referral.rcode() == dns.rcode.NOERROR
    assert not referral.flags & dns.flags.AA and referral.answer == []
    assert names(referral, "authority", "NS") == {domain: {f"ns1.{domain}", "ns2.dns-host.example"}}
    assert referral.authority[0].ttl == DELEGATION_TTL
    assert names(referral, "additional", "A") == {f"ns1.{domain}": {"127.0.0.1"}}
    assert names(referral, "additional", "AAAA") == {f"ns1.{domain}": {"::1"}}
    # a name below the child is referred too: the parent knows only the cut
    below = ask(parent_dns.address, parent_dns.port, f"www.{domain}", "A")
    assert names(below, "authority", "NS") == {domain: {f"ns1.{domain}", "ns2.dns-host.example"}}


def test_the_parent_is_authoritative_for_its_own_zone(parent_dns: ParentDns) -> None:
    apex = ask(parent_dns.address, parent_dns.port, "test", "NS")
    assert apex.flags & dns.flags.AA and names(apex, "answer", "NS") == {"test": {"a.nic.test"}}


def test_redelegating_replaces_the_ns_set_and_glue(parent_dns: ParentDns) -> None:
    domain = child()
    parent_dns.delegate(domain, [f"ns1.{domain}"], {f"ns1.{domain}": ["127.0.0.1"]})
    parent_dns.delegate(domain, ["ns1.emailverification.info", "ns2.emailverification.info"])

    referral = parent_dns.referral(domain)

    assert names(referral, "authority", "NS") == {domain: {"ns1.emailverification.info", "ns2.emailverification.info"}}
    assert referral.additional == []


def test_after_undelegate_the_parent_answers_nxdomain(parent_dns: ParentDns) -> None:
    domain = child()
    parent_dns.delegate(domain, [f"ns1.{domain}"], {f"ns1.{domain}": ["127.0.0.1"]})
    parent_dns.undelegate(domain)

    answer = parent_dns.referral(domain)

    assert answer.rcode() == dns.rcode.NXDOMAIN and answer.flags & dns.flags.AA
    assert names(answer, "authority", "NS") == {} and set(names(answer, "authority", "SOA")) == {"test"}
    assert ask(parent_dns.address, parent_dns.port, f"ns1.{domain}", "A").rcode() == dns.rcode.NXDOMAIN


@pytest.mark.parametrize(
    ("domain", "glue"),
    [("acme.example", {}), ("test", {}), ("acme-glue.test", {"ns1.other.test": ["127.0.0.1"]})],
)
def test_delegations_outside_the_tld_or_glue_outside_the_child_are_refused(
    parent_dns: ParentDns, domain: str, glue: dict[str, list[str]]
) -> None:
    with pytest.raises(ValueError, match=r"not below|outside"):
        parent_dns.delegate(domain, ["ns1.other.test"], glue)
    assert parent_dns.referral("acme-glue.test").rcode() == dns.rcode.NXDOMAIN


def test_our_nameserver_answers_soa_with_aa_only_when_it_serves_the_child(
    parent_dns: ParentDns, pdns: PowerDns
) -> None:
    domain = child()
    parent_dns.delegate(domain, [f"ns1.{domain}"], {f"ns1.{domain}": [pdns.address]})
    (glue,) = names(parent_dns.referral(domain), "additional", "A")[f"ns1.{domain}"]

    lame = ask(glue, pdns.dns_port, domain, "SOA")
    assert lame.rcode() == dns.rcode.REFUSED and not lame.flags & dns.flags.AA

    with authoritative(pdns, domain):
        served = ask(glue, pdns.dns_port, domain, "SOA")
    assert served.rcode() == dns.rcode.NOERROR and served.flags & dns.flags.AA
    assert set(names(served, "answer", "SOA")) == {domain}
    assert ask(glue, pdns.dns_port, domain, "SOA").rcode() == dns.rcode.REFUSED


def test_a_nameserver_that_only_refers_is_lame_without_aa(parent_dns: ParentDns) -> None:
    domain = child()
    parent_dns.delegate(domain, ["a.nic.test"])

    answer = ask(parent_dns.address, parent_dns.port, domain, "SOA")

    assert answer.rcode() == dns.rcode.NOERROR and not answer.flags & dns.flags.AA
    assert names(answer, "answer", "SOA") == {} and names(answer, "authority", "NS") == {domain: {"a.nic.test"}}

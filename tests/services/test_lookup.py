"""What the lookup box accepts, and an IP's audit (PTR with forward confirmation, the IP blocklists)."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.lookup import Subject, lookup, parse
from tests.fixtures.pdns import PowerDns


def test_a_domain_or_an_ip_is_normalised() -> None:
    assert parse("  Example.TEST. ") == Subject("domain", "example.test")
    assert parse("bücher.test", "S1") == Subject("domain", "xn--bcher-kva.test", "s1")
    assert parse("2001:DB8::0001") == Subject("ip", "2001:db8::1")
    assert parse("192.0.2.1", "ignored") == Subject("ip", "192.0.2.1")


@pytest.mark.parametrize(
    ("query", "selector"),
    [("", ""), ("   ", ""), ("../../etc/passwd", ""), ("a/b.test", ""), ("x" * 254, ""), ("localhost", ""),
     ("a.test", "../k"), ("a.test", "s 1"), ("a.test", "-s")],
)  # fmt: skip
def test_anything_else_is_refused(query: str, selector: str) -> None:
    with pytest.raises(UserError):
        parse(query, selector)


@pytest.mark.pdns
async def test_an_ip_gets_its_ptr_and_the_ip_blocklists(audit_dns: PowerDns, settings: Settings) -> None:
    ns = f"{audit_dns.address}:{audit_dns.dns_port}"
    app = App(settings.model_copy(update={"nameservers": [ns]}))
    try:
        listed = await lookup(app, parse("127.0.0.2"))
        clean = await lookup(app, parse("127.0.0.10"))
    finally:
        await app.close()
    assert [r.subject for r in listed.report.ips] == ["127.0.0.2"] and listed.report.domains == []
    assert {(f["check"], f["id"]) for f in listed.findings} >= {("ptr", "ptr.missing"), ("dnsbl", "dnsbl.listed")}
    assert all(f["hint"] for f in listed.findings if f["severity"] == "error")
    assert "dbl.spamhaus.org" not in {z.zone for z in listed.report.zones}  # a domain list lists no IP
    assert clean.report.ips[0].checks["ptr"].status.value == "ok"

"""The streaming audit service: each report handed over as it completes, the same results as the full one."""

from __future__ import annotations

from email_infrastructure.core.settings import Settings
from email_infrastructure.monitoring.audit import SubjectReport
from email_infrastructure.services.app import App
from email_infrastructure.services.audit import AuditRequest, audit_domains, stream_audit
from tests.fixtures.pdns import PowerDns


async def test_stream_hands_over_every_subject_and_agrees_with_the_full_report(
    settings: Settings, audit_dns: PowerDns
) -> None:
    request = AuditRequest(
        domains=["good.test", "plusall.test", "nothing.test"],
        nameservers=[f"{audit_dns.address}:{audit_dns.dns_port}"],
        checks={"spf", "dmarc", "mx", "ptr", "dnsbl", "compliance"},
        zones=["zen.spamhaus.org"],
    )
    seen: list[SubjectReport] = []
    app = App(settings)
    try:
        summary = await stream_audit(app, request, seen.append)
        full = await audit_domains(app, request)
    finally:
        await app.close()
    assert (summary.domains, summary.ips) == (3, 1)
    assert summary.status is full.status
    # domains first (in the order they finished), then the IPs
    assert [r.kind for r in seen] == ["domain"] * 3 + ["ip"]
    assert sorted((r.to_json() for r in seen), key=str) == sorted(
        [*(d.to_json() for d in full.domains), *(i.to_json() for i in full.ips)], key=str
    )
    assert not app.has_state()

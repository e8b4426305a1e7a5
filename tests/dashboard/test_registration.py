"""The domain page shows the `registration` family like any check: the age beside the recommended minimum,
the expiry, and a hold as a finding with its fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
from email_infrastructure.monitoring.checks.registration import RegistrationTarget, check_registration
from email_infrastructure.monitoring.monitor import FAMILIES, rows
from email_infrastructure.registrars.rdap_model import Lookup, LookupStatus, Registration
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import record_results
from tests.dashboard.conftest import Seeded, login

NOW = datetime.now(UTC)


async def test_the_domain_page_shows_age_expiry_and_a_hold(client: TestClient, seeded: Seeded) -> None:
    reports = []
    for name, statuses in (("acme-outreach.test", ()), ("acme-mail.test", ("server hold",))):
        found = Registration(name, NOW - timedelta(days=400), NOW + timedelta(days=200), statuses=statuses)
        results = check_registration(RegistrationTarget(name), Lookup(name, LookupStatus.FOUND, found), NOW)
        reports.append(SubjectReport(name, dict(results)))
    app = App(seeded.settings)
    try:
        await record_results(app, rows(AuditReport(reports, []), set(FAMILIES["registration"])))
    finally:
        await app.close()
    login(client, seeded.keys["read"])

    calm = client.get("/domains/acme-outreach.test").text
    assert "registered 400 days ago (recommended minimum before cold sending: 30)" in calm
    assert f"expires on {NOW + timedelta(days=200):%Y-%m-%d} (in 200 days)" in calm
    held = client.get("/domains/acme-mail.test").text
    assert "registration.suspended" in held and "is on server hold at the registry" in held
    assert "How to fix" in held and "domain whois DOMAIN" in held

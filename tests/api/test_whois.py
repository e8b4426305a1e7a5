"""`GET /api/v1/whois/{name}`: RDAP through the API (read scope), against the loopback registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import Api
from tests.fakes.rdap import FakeRdap
from tests.services.conftest import WriteInventory

NOW = datetime.now(UTC).replace(microsecond=0)


async def test_whois_answers_found_not_found_and_unknown_with_a_read_key(
    api: Api, rdap: FakeRdap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMAIL_INFRA_RDAP_BOOTSTRAP", rdap.bootstrap_url)
    monkeypatch.setenv("EMAIL_INFRA_RDAP_CA", str(rdap.ca_path))
    rdap.add_domain("acme-outreach.test", NOW - timedelta(days=40), NOW + timedelta(days=10), status=["server hold"])

    found = await api.client.get("/api/v1/whois/acme-outreach.test", headers=api.auth("read"))
    assert found.status_code == 200, found.text
    data = found.json()["data"]
    assert data["status"] == "found" and data["registration"]["statuses"] == ["server hold"]

    missing = await api.client.get("/api/v1/whois/nobody.test", headers=api.auth("read"))
    assert missing.status_code == 200 and missing.json()["data"]["status"] == "not_found"
    rdap.next_statuses = [503]
    broken = await api.client.get("/api/v1/whois/acme-outreach.test", headers=api.auth("read"))
    assert broken.json()["data"]["status"] == "unknown" and "503" in broken.json()["data"]["reason"]

    assert (await api.client.get("/api/v1/whois/acme-outreach.test")).status_code == 401
    bad = await api.client.get("/api/v1/whois/a..b", headers=api.auth("read"))
    assert bad.status_code in (400, 422), bad.text


async def test_the_registration_family_runs_and_lists_through_the_check_routes(
    api: Api, rdap: FakeRdap, monkeypatch: pytest.MonkeyPatch, write_inventory: WriteInventory
) -> None:
    monkeypatch.setenv("EMAIL_INFRA_RDAP_BOOTSTRAP", rdap.bootstrap_url)
    monkeypatch.setenv("EMAIL_INFRA_RDAP_CA", str(rdap.ca_path))
    await import_inventory(api.app, write_inventory())
    rdap.add_domain("acme-mail.test", NOW - timedelta(days=400), NOW + timedelta(days=9))

    run = await api.client.post(
        "/api/v1/monitoring/results",
        headers=api.auth("write"),
        json={"domain": "acme-mail.test", "family": "registration"},
    )
    assert run.status_code == 200, run.text
    assert run.json()["data"]["checks"] == ["expiry", "registration"] and run.json()["data"]["transitions"] == 2
    listed = await api.client.get(
        "/api/v1/monitoring/results", headers=api.auth("read"), params={"subject": "acme-mail.test"}
    )
    states = {i["check"]: (i["status"], i["summary"]) for i in listed.json()["data"]["items"]}
    assert states["registration"] == ("ok", "registered 400 days ago (recommended minimum before cold sending: 30)")
    assert states["expiry"][0] == "error" and "expires in 9 day(s)" in states["expiry"][1]

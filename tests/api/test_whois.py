"""`GET /api/v1/whois/{name}`: RDAP through the API (read scope), against the loopback registry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.conftest import Api
from tests.fakes.rdap import FakeRdap

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

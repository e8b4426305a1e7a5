"""The loopback RDAP registry behaves as registrars.md §6 says a registry does (what issue 26's checks rely on)."""

from __future__ import annotations

import json
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fakes.rdap import MEDIA_TYPE, FakeRdap

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def get(rdap: FakeRdap, url: str) -> httpx.Response:
    """A client that trusts only the fake's CA, as a checker configured for tests would."""
    return httpx.get(url, verify=ssl.create_default_context(cafile=str(rdap.ca_path)), headers={"Accept": MEDIA_TYPE})


def base_for(bootstrap: dict[str, object], name: str) -> str:
    """RFC 9224: the first base URL of the service whose TLD list holds the name's last label."""
    services = bootstrap["services"]
    assert isinstance(services, list)
    for tlds, urls in services:
        if name.rsplit(".", 1)[-1] in tlds:
            return str(urls[0])
    raise LookupError(name)


def test_bootstrap_leads_to_the_domain_answer_over_https(rdap: FakeRdap) -> None:
    rdap.add_domain(
        "acme-outreach.test",
        NOW - timedelta(days=365),
        NOW + timedelta(days=10),
        last_changed=NOW - timedelta(days=3),
        status=["server hold", "client transfer prohibited"],
        registrar="Example Registrar, LLC",
        registrar_iana_id="9999",
        nameservers=["ns1.acme-outreach.test", "ns2.acme-outreach.test"],
    )
    bootstrap = get(rdap, rdap.bootstrap_url).json()
    assert bootstrap["version"] == "1.0" and bootstrap["publication"].endswith("Z")
    base = base_for(bootstrap, "acme-outreach.test")
    assert base == rdap.url and base.startswith("https://127.0.0.1:") and base.endswith("/")

    response = get(rdap, f"{base}domain/acme-outreach.test")

    assert response.status_code == 200 and response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["objectClassName"] == "domain" and body["ldhName"] == "ACME-OUTREACH.TEST" and body["handle"]
    assert body["status"] == ["server hold", "client transfer prohibited"]
    events = {e["eventAction"]: e["eventDate"] for e in body["events"]}
    assert events["registration"] == "2025-12-05T08:00:00Z"
    assert events["expiration"] == "2026-12-15T08:00:00Z"
    assert events["last changed"] == "2026-12-02T08:00:00Z"
    assert "last update of RDAP database" in events
    (registrar,) = body["entities"]
    assert registrar["roles"] == ["registrar"]
    assert registrar["publicIds"] == [{"type": "IANA Registrar ID", "identifier": "9999"}]
    assert ["fn", {}, "text", "Example Registrar, LLC"] in registrar["vcardArray"][1]
    assert [ns["ldhName"] for ns in body["nameservers"]] == ["NS1.ACME-OUTREACH.TEST", "NS2.ACME-OUTREACH.TEST"]
    assert "rdap_level_0" in body["rdapConformance"] and body["notices"][0]["title"] == "Terms of Use"
    assert [(c.path, c.status) for c in rdap.log] == [
        ("/bootstrap/dns.json", 200),
        ("/domain/acme-outreach.test", 200),
    ]


def test_a_client_that_does_not_trust_the_ca_is_refused(rdap: FakeRdap) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(rdap.bootstrap_url)
    # the refused handshake did not wedge the server
    assert get(rdap, rdap.bootstrap_url).status_code == 200


def test_bootstrap_file_matches_the_served_one(rdap: FakeRdap, tmp_path: Path) -> None:
    path = rdap.write_bootstrap(tmp_path / "dns.json")
    assert json.loads(path.read_text()) == get(rdap, rdap.bootstrap_url).json()
    assert json.loads(path.read_text())["services"] == [[["test"], [rdap.url]]]


def test_edits_to_the_model_show_in_the_next_answer(rdap: FakeRdap) -> None:
    domain = rdap.add_domain("renewed.test", NOW - timedelta(days=30), NOW + timedelta(days=10))
    domain.expires = NOW + timedelta(days=375)
    domain.status = ["auto renew period"]
    body = get(rdap, f"{rdap.url}domain/RENEWED.test").json()
    assert {"eventAction": "expiration", "eventDate": "2027-12-15T08:00:00Z"} in body["events"]
    assert body["status"] == ["auto renew period"]


def test_a_related_link_leads_to_the_registrar_answer(rdap: FakeRdap) -> None:
    rdap.add_domain("grace.test", NOW - timedelta(days=400), NOW + timedelta(days=330), status=["auto renew period"])
    plain = get(rdap, f"{rdap.url}domain/grace.test").json()
    assert [link["rel"] for link in plain["links"]] == ["self"]
    assert get(rdap, f"{rdap.url}registrar/domain/grace.test").status_code == 404

    rdap.domains["grace.test"].registrar_expires = NOW - timedelta(days=35)
    registry = get(rdap, f"{rdap.url}domain/grace.test").json()
    (related,) = [link for link in registry["links"] if link["rel"] == "related"]
    registrar = get(rdap, related["href"]).json()

    assert related["type"] == MEDIA_TYPE
    assert "registrar expiration" not in {e["eventAction"] for e in registry["events"]}
    assert {"eventAction": "registrar expiration", "eventDate": "2026-10-31T08:00:00Z"} in registrar["events"]


@pytest.mark.parametrize("name", ["unknown.test", "acme.example"])
def test_unknown_names_are_404_with_the_rfc9083_error_body(rdap: FakeRdap, name: str) -> None:
    rdap.add_domain("acme.test", NOW, NOW + timedelta(days=365))
    response = get(rdap, f"{rdap.url}domain/{name}")
    assert response.status_code == 404 and response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["errorCode"] == 404 and body["title"] and isinstance(body["description"], list)


@pytest.mark.parametrize("name", ["-bad.test", "a..test", "single", "sp%20ace.test", f"{'a' * 64}.test"])
def test_malformed_names_are_400(rdap: FakeRdap, name: str) -> None:
    response = get(rdap, f"{rdap.url}domain/{name}")
    assert response.status_code == 400 and response.json()["errorCode"] == 400


def test_an_idn_is_looked_up_by_its_a_label(rdap: FakeRdap) -> None:
    rdap.add_domain("xn--bcher-kva.test", NOW, NOW + timedelta(days=365))
    assert get(rdap, f"{rdap.url}domain/bücher.test").json()["ldhName"] == "XN--BCHER-KVA.TEST"


def test_throttle_knob_answers_429_with_retry_after_then_recovers(rdap: FakeRdap) -> None:
    rdap.add_domain("acme.test", NOW, NOW + timedelta(days=365))
    rdap.throttle_next, rdap.retry_after = 2, 17
    answers = [get(rdap, f"{rdap.url}domain/acme.test") for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "17"
    assert answers[0].json()["errorCode"] == 429 and answers[0].headers["content-type"] == MEDIA_TYPE
    # the bootstrap is IANA's file, not the registry's: never throttled
    rdap.throttle_next = 1
    assert get(rdap, rdap.bootstrap_url).status_code == 200


def test_rate_limit_refuses_over_the_window_until_the_clock_moves(rdap: FakeRdap) -> None:
    rdap.rate_limit = (2, 10.0)
    statuses = [get(rdap, f"{rdap.url}domain/unknown.test").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    assert rdap.calls("/domain/")[-1].status == 429
    over = get(rdap, f"{rdap.url}domain/unknown.test")
    assert over.status_code == 429 and over.headers["retry-after"] == "10"
    rdap.clock.advance(4)
    assert get(rdap, f"{rdap.url}domain/unknown.test").headers["retry-after"] == "6"
    rdap.clock.advance(6)
    assert get(rdap, f"{rdap.url}domain/unknown.test").status_code == 404


def test_injected_statuses_come_in_order(rdap: FakeRdap) -> None:
    rdap.add_domain("acme.test", NOW, NOW + timedelta(days=365))
    rdap.next_statuses = [503, 500]
    statuses = [get(rdap, f"{rdap.url}domain/acme.test").status_code for _ in range(3)]
    assert statuses == [503, 500, 200]


async def test_an_async_client_trusting_the_ca_reads_the_answer(rdap: FakeRdap) -> None:
    rdap.add_domain("async.test", NOW, NOW + timedelta(days=10), status=["server hold"])
    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(rdap.ca_path))) as client:
        answers = [await client.get(f"{rdap.url}domain/async.test") for _ in range(2)]
    assert [a.json()["status"] for a in answers] == [["server hold"]] * 2

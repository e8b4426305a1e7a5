"""The lookup box: any domain or IP audited now against the real PowerDNS on loopback, with the findings,
evidence and fixes of `email-infra audit`; read scope, rate limited per key, bad input refused unsent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.api.app import create_app
from email_infrastructure.core.settings import Settings
from email_infrastructure.dashboard import extension
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.audit import AuditRequest, audit_domains
from email_infrastructure.services.lookup import flatten
from tests.dashboard.conftest import SCRIPT, Seeded, login
from tests.fixtures.pdns import PowerDns
from tests.monitoring.zones import load_zones, txt

pytestmark = pytest.mark.pdns

#: a zone whose SPF record carries a script: the audit quotes it in a finding
HOSTILE = "xss-lookup.test"
#: lookups a key may make per minute in these tests
LIMIT = 4


def lookup_settings(seeded: Seeded, dns: PowerDns) -> Settings:
    """The seeded dashboard's settings with the PowerDNS as the audits' resolver."""
    return seeded.settings.model_copy(
        update={"nameservers": [f"{dns.address}:{dns.dns_port}"], "api_rate_limit_write": f"{LIMIT}/minute"}
    )


@pytest.fixture
def looked(seeded: Seeded, audit_dns: PowerDns) -> Iterator[TestClient]:
    """The dashboard whose audits ask the loopback PowerDNS (the defect zones and a hostile one)."""
    load_zones(audit_dns, {HOSTILE: [(HOSTILE, "TXT", txt(f"v=spf1 {SCRIPT} -all"))]})
    app = create_app(settings=lookup_settings(seeded, audit_dns), extensions=[extension])
    with TestClient(app, follow_redirects=False) as tc:
        yield tc


def shown(html: str) -> set[tuple[str, str]]:
    """(subject · check, finding id) of every finding on a lookup page."""
    found = re.findall(r'data-finding="([^"]+)">\s*<header>.*?<span class="muted">([^<]+)</span>', html, re.S)
    return {(where.replace("&#39;", "'"), fid) for fid, where in found}


def audited(settings: Settings, domain: str, selectors: list[str] | None = None) -> list[dict[str, Any]]:
    """What `audit_domains` (the service behind `email-infra audit`) finds, flattened as the page lists it."""

    async def run() -> list[dict[str, Any]]:
        app = App(settings)
        try:
            return flatten(await audit_domains(app, AuditRequest(domains=[domain], selectors=selectors or [])))
        finally:
            await app.close()

    return asyncio.run(run())


def test_a_domain_lookup_shows_the_findings_of_audit_with_evidence_and_fixes(
    looked: TestClient, seeded: Seeded, audit_dns: PowerDns
) -> None:
    login(looked, seeded.keys["read"])  # read scope is enough
    page = looked.get("/lookup", params={"q": "TwoSPF.test."})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'data-kind="domain"' in html and 'data-status="error"' in html
    expected = audited(lookup_settings(seeded, audit_dns), "twospf.test")
    assert shown(html) == {(f"{f['subject']} · {f['check']}", f["id"]) for f in expected}
    assert "spf.multiple_records" in html and "merge the SPF records into one TXT record" in html  # its fix
    assert "v=spf1 ip4:127.0.0.10 -all" in html  # the evidence: the records seen
    assert re.search(r'<tr data-subject="twospf.test" data-check="spf">.*?s-error', html)
    assert "Nothing is stored" in html
    severities = re.findall(r'<article class="finding s-(\w+)"', html)
    assert severities[0] == "error" and severities == sorted(severities, key=["error", "warning", "info"].index)


def test_a_given_selector_is_the_one_checked(looked: TestClient, seeded: Seeded) -> None:
    login(looked, seeded.keys["read"])
    guessed = looked.get("/lookup", params={"q": "good.test"}).text  # `dkim` is one of the common selectors
    assert re.search(
        r'data-check="dkim"><td class="mono">good.test</td><td>dkim</td><td><span class="badge s-ok"', guessed
    )
    named = looked.get("/lookup", params={"q": "good.test", "selector": "s2026"}).text
    assert "dkim.missing" in named and "s2026._domainkey.good.test" in named


def test_an_ip_lookup_checks_its_ptr_and_the_blocklists(looked: TestClient, seeded: Seeded) -> None:
    login(looked, seeded.keys["read"])
    listed = looked.get("/lookup", params={"q": "127.0.0.2"}).text
    assert 'data-kind="ip"' in listed
    assert {("127.0.0.2 · ptr", "ptr.missing"), ("127.0.0.2 · dnsbl", "dnsbl.listed")} <= shown(listed)
    assert "zen.spamhaus.org" in listed and "request delisting" in listed
    clean = looked.get("/lookup", params={"q": "127.0.0.10"}).text
    assert re.search(
        r'data-check="ptr"><td class="mono">127.0.0.10</td><td>ptr</td><td><span class="badge s-ok"', clean
    )
    assert "ptr.missing" not in clean


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"q": "../../etc/passwd"}, "neither a domain name nor an IP address"),
        ({"q": "a" * 300 + ".test"}, "at most 253 characters"),
        ({"q": SCRIPT}, "neither a domain name nor an IP address"),
        ({"q": "exa mple.test"}, "neither a domain name nor an IP address"),
        ({"q": "good.test", "selector": "../x"}, "a DKIM selector is one or more DNS labels"),
    ],
)
def test_bad_input_is_a_clear_400_and_sends_no_query(
    looked: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch, params: dict[str, str], says: str
) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a query was sent for bad input")

    monkeypatch.setattr("email_infrastructure.services.audit.audit_domains", never)
    monkeypatch.setattr("email_infrastructure.services.audit.audit_ip", never)
    login(looked, seeded.keys["read"])
    page = looked.get("/lookup", params=params)
    assert page.status_code == 400
    assert says in page.text and 'id="lookup-error"' in page.text
    assert SCRIPT not in page.text  # the input is shown back escaped


def test_lookups_are_rate_limited_per_key(looked: TestClient, seeded: Seeded) -> None:
    login(looked, seeded.keys["read"])
    assert looked.get("/lookup").status_code == 200  # the empty form costs nothing
    assert looked.get("/lookup", params={"q": "../x"}).status_code == 400  # nor does refused input
    for _ in range(LIMIT):
        assert looked.get("/lookup", params={"q": "nothing.test"}).status_code == 200
    refused = looked.get("/workspaces/default/lookup", params={"q": "nothing.test"})  # one budget, every workspace
    assert refused.status_code == 429
    assert "rate limit of 4 per 1 minute" in refused.text and int(refused.headers["Retry-After"]) >= 1
    looked.cookies.clear()
    login(looked, seeded.keys["write"])  # another key has its own budget
    assert looked.get("/lookup", params={"q": "nothing.test"}).status_code == 200


def test_values_from_the_dns_are_escaped(looked: TestClient, seeded: Seeded) -> None:
    login(looked, seeded.keys["read"])
    html = looked.get("/lookup", params={"q": HOSTILE}).text
    assert SCRIPT not in html
    assert "&lt;script&gt;" in html  # the record as the finding's evidence quotes it


def test_the_lookup_is_the_same_in_every_workspace_and_leaks_none(
    looked: TestClient, seeded: Seeded, audit_dns: PowerDns
) -> None:
    """An outside domain reads the same everywhere; a domain of the desired state gets its drift check
    only in its own workspace (a key of another one audits it as any outside domain)."""

    async def other_key() -> str:
        from email_infrastructure.services import workspaces

        app = App(seeded.settings)
        try:
            await workspaces.create(app, "lookup-elsewhere")
            return (
                await ApiKeyService(app).create("elsewhere", "read", source="test", workspace="lookup-elsewhere")
            ).key
        finally:
            await app.close()

    elsewhere = asyncio.run(other_key())
    login(looked, seeded.keys["read"])
    here = looked.get("/lookup", params={"q": "voids.test"}).text
    named = looked.get("/workspaces/default/lookup", params={"q": "voids.test"}).text
    assert shown(here) == shown(named) and ("voids.test · spf", "spf.void_lookups") in shown(here)
    assert 'action="/workspaces/default/lookup"' in named
    assert 'data-check="drift"' in looked.get("/lookup", params={"q": "acme-mail.test"}).text
    looked.cookies.clear()
    login(looked, elsewhere)
    there = looked.get("/lookup", params={"q": "voids.test"}).text
    assert shown(there) == shown(here)
    outside = looked.get("/lookup", params={"q": "acme-mail.test"}).text
    assert 'data-check="drift"' not in outside and "owned by" not in outside
    assert looked.get("/workspaces/default/lookup", params={"q": "voids.test"}).status_code == 404


def test_the_lookup_needs_a_login(looked: TestClient) -> None:
    response = looked.get("/lookup", params={"q": "good.test"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")

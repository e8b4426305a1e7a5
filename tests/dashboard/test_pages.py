"""The dashboard over HTTP (TestClient): login and logout, CSRF, scopes, escaping, overview, plan and apply."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from email_infrastructure.dashboard.session import COOKIE
from email_infrastructure.services.app import App
from email_infrastructure.services.domain_detail import DomainDetail
from tests.dashboard.conftest import SCRIPT, Seeded, csrf_of, login, scripts_of


def test_pages_send_a_visitor_without_a_session_to_the_login_form(client: TestClient) -> None:
    for path in ("/", "/domains/acme-mail.test", "/plan", "/events", "/jobs/x"):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next="), path
    form = client.get("/login")
    assert form.status_code == 200
    assert 'name="key"' in form.text and 'name="csrf"' in form.text


def test_login_gives_a_signed_httponly_strict_session_and_logout_ends_it(client: TestClient, seeded: Seeded) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "key": seeded.keys["read"], "next": "/events"})
    assert response.status_code == 303 and response.headers["location"] == "/events"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    assert "Secure" not in cookie  # development settings: the tests talk plain HTTP
    assert seeded.keys["read"] not in cookie  # the cookie names the key, it never carries it
    assert client.get("/").status_code == 200
    assert client.get("/").text.count("dash-read") >= 1

    after = csrf_of(client.get("/").text)
    assert after != token  # a login starts a new session: a token seen before it is worthless
    logout = client.post("/logout", data={"csrf": after})
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    assert client.get("/").status_code == 303


def test_a_bad_key_is_refused_and_opens_no_session(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "key": "eik_00000000_" + "x" * 43})
    assert response.status_code == 401
    assert "not valid" in response.text
    assert client.get("/").status_code == 303


def test_a_forged_session_cookie_is_ignored(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    genuine = next(c for c in client.cookies.jar if c.name == COOKIE)
    forged = genuine.value[:-2] + ("AA" if not genuine.value.endswith("AA") else "BB")
    # replaced under the genuine cookie's own domain: set without it, both would be sent
    client.cookies.set(COOKIE, forged, domain=genuine.domain, path=genuine.path)
    assert [c.value for c in client.cookies.jar if c.name == COOKIE] == [forged]
    assert client.get("/").status_code == 303


def test_every_post_needs_the_sessions_csrf_token(client: TestClient, seeded: Seeded) -> None:
    client.get("/login")
    assert client.post("/login", data={"key": seeded.keys["write"]}).status_code == 403
    assert client.get("/").status_code == 303  # the login did not happen

    token = login(client, seeded.keys["write"])
    for path in ("/logout", "/plan", "/domains/acme-mail.test/check"):
        missing = client.post(path, data={})
        wrong = client.post(path, data={"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")})
        assert missing.status_code == 403, path
        assert wrong.status_code == 403, path
        assert "reload the page" in missing.text
    assert client.get("/").status_code == 200  # still logged in: the logout without a token did nothing


def test_a_read_key_plans_but_cannot_apply(client: TestClient, seeded: Seeded) -> None:
    token = login(client, seeded.keys["read"])
    made = client.post("/plan", data={"csrf": token})
    assert made.status_code == 303
    plan_url = made.headers["location"]
    page = client.get(plan_url)
    assert page.status_code == 200
    assert "needs a write key" in page.text
    assert 'id="apply"' not in page.text
    refused = client.post(f"{plan_url}/apply", data={"csrf": token})
    assert refused.status_code == 403
    assert "write scope" in refused.text
    events = client.get("/events", params={"topic": "api.job."}).text
    assert "api.job.queued" not in events  # nothing was started


def test_a_read_key_cannot_run_checks(client: TestClient, seeded: Seeded) -> None:
    token = login(client, seeded.keys["read"])
    page = client.get("/domains/acme-mail.test").text
    assert 'id="recheck"' not in page
    assert client.post("/domains/acme-mail.test/check", data={"csrf": token}).status_code == 403


def test_everything_rendered_is_escaped(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/domains/acme-mail.test")
    assert page.status_code == 200
    assert SCRIPT not in page.text
    assert str(escape(SCRIPT)) in page.text  # shown as text: &lt;script&gt;…
    # the only scripts of the page are ours, and the policy forbids inline ones anyway
    scripts_of(page.text)
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_overview_colours_each_check_column_and_counts_totals(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/").text
    rows = dict(re.findall(r'<tr data-domain="([^"]+)" data-status="([^"]+)"', page))
    assert rows == {"acme-mail.test": "error", "acme-outreach.test": "ok"}
    failing = page.split('data-domain="acme-mail.test"')[1].split("</tr>")[0]
    assert 'class="cell s-error" data-check="DNS drift"' in failing
    assert 'class="cell s-ok" data-check="Blocklists"' in failing  # the server IP's state counts for the domain
    assert 'class="cell s-none" data-check="TLS"' in failing  # never checked
    assert "<strong>2</strong> domains" in page
    assert ">1 error<" in page and ">1 ok<" in page


def test_overview_search_and_status_filter(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])

    def domains(**params: str) -> list[str]:
        return re.findall(r'<tr data-domain="([^"]+)"', client.get("/", params=params).text)

    assert domains(q="outreach") == ["acme-outreach.test"]
    assert domains(status="error") == ["acme-mail.test"]
    assert domains(status="ok", q="mail") == []
    assert domains(status="") == ["acme-mail.test", "acme-outreach.test"]
    fragment = client.get("/", params={"q": "acme"}, headers={"HX-Request": "true", "HX-Target": "fleet"}).text
    assert fragment.startswith('<div id="fleet">')  # htmx swaps the table only
    assert client.get("/", params={"status": "purple"}).status_code == 400


def test_domain_page_shows_the_diff_findings_with_fixes_history_and_mailboxes(
    client: TestClient, seeded: Seeded
) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/domains/acme-mail.test").text
    # nothing was applied yet: every desired record is missing from the (absent) zone file
    assert page.count('class="badge state-missing"') >= 5
    assert "_dmarc.acme-mail.test" in page
    assert "drift.changed" in page
    assert "`email-infra apply DOMAIN` (or update the inventory)" in page  # the finding's fix (monitoring/findings.py)
    assert '<svg class="chart" role="img"' in page and 'class="band f-error"' in page
    assert "cara.diaz@acme-mail.test" in page
    assert client.get("/domains/nope.test").status_code == 404


def test_a_write_key_applies_a_plan_and_the_job_page_reports_the_result(client: TestClient, seeded: Seeded) -> None:
    token = login(client, seeded.keys["write"])
    plan_url = client.post("/plan", data={"csrf": token}).headers["location"]
    page = client.get(plan_url).text
    assert 'id="apply"' in page
    assert "dns.zone:acme-mail.test" in page
    started = client.post(f"{plan_url}/apply", data={"csrf": token})
    assert started.status_code == 303
    job_url = started.headers["location"]
    assert job_url.startswith("/jobs/")
    status = ""
    for _ in range(600):  # a bounded wait for the in-process job, not a timing assertion
        fragment = client.get(f"{job_url}/progress").text
        status = re.findall(r'data-status="([^"]+)"', fragment)[0]
        if status in ("succeeded", "failed"):
            break
        assert 'hx-trigger="every 1s"' in fragment  # still running: htmx keeps polling
        time.sleep(0.1)
    assert status == "succeeded", fragment
    assert "hx-trigger" not in fragment  # done: the polling stops
    assert "dns.zone:acme-mail.test" in fragment
    again = client.post(f"{plan_url}/apply", data={"csrf": token})
    assert again.headers["location"] == job_url  # the same plan applies once
    records = client.get("/domains/acme-mail.test").text
    assert "state-missing" not in records and "state-in-sync" in records
    assert "api.job.finished" in client.get("/events").text


def test_a_revoked_key_ends_its_sessions(client: TestClient, seeded: Seeded) -> None:
    import asyncio

    from email_infrastructure.services.apikeys import ApiKeyService
    from email_infrastructure.services.app import App

    login(client, seeded.keys["read"])
    assert client.get("/").status_code == 200

    async def revoke() -> None:
        app = App(seeded.settings)
        try:
            await ApiKeyService(app).revoke("dash-read")
        finally:
            await app.close()

    asyncio.run(revoke())
    assert client.get("/").status_code == 303


def test_the_session_cookie_is_secure_outside_development(seeded: Seeded) -> None:
    from email_infrastructure.api.app import create_app
    from email_infrastructure.dashboard import extension

    config = seeded.settings.model_copy(update={"env": "testing"})
    with TestClient(create_app(settings=config, extensions=[extension]), follow_redirects=False) as tc:
        cookie = tc.get("/login").headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_login_never_redirects_to_another_site(client: TestClient, seeded: Seeded) -> None:
    for target in ("//evil.test/", "https://evil.test/", "/\t/evil.test", "\\\\evil.test"):
        client.cookies.clear()
        token = csrf_of(client.get("/login").text)
        response = client.post("/login", data={"csrf": token, "key": seeded.keys["read"], "next": target})
        assert response.status_code == 303
        assert response.headers["location"] == "/", target


def test_the_domain_page_and_the_api_serve_one_read_model(
    client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both faces render services.domain_detail: what it says (here an owner only it knows) is what they show."""
    from email_infrastructure.services import domain_detail as module

    real = module.domain_detail
    asked: list[bool] = []

    async def marked(app: App, name: str, *, sections: bool = True) -> DomainDetail:
        detail = await real(app, name, sections=sections)
        asked.append(sections)
        detail.view = replace(detail.view, owner="owner-of-the-read-model")
        return detail

    monkeypatch.setattr(module, "domain_detail", marked)
    monkeypatch.setattr("email_infrastructure.api.routers.domains.domain_detail", marked)
    api = client.get("/api/v1/domains/acme-mail.test", headers={"Authorization": f"Bearer {seeded.keys['read']}"})
    assert api.status_code == 200, api.text
    data = api.json()["data"]
    assert data["owner"] == "owner-of-the-read-model" and data["status"] == "error"
    login(client, seeded.keys["read"])
    page = client.get("/domains/acme-mail.test").text
    assert "owned by owner-of-the-read-model" in page
    assert all(m in page for m in data["mailboxes"]) and data["spec"]["dns_provider"] in page
    assert asked == [False, True]  # the API serves the summary, the page every section

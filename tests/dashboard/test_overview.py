"""The overview page over HTTP: sort links, filters, grouped findings, CSV export (injection neutralised),
bulk re-check as one job (write scope, CSRF), every value escaped."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import pytest
from fastapi.testclient import TestClient
from playwright.async_api import Page, expect

from email_infrastructure.core.settings import Settings
from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.jobs import get_job
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.scope import acting_in
from tests.dashboard.browser import accessible, log_in, shot
from tests.dashboard.conftest import Seeded, finding, login
from tests.services.conftest import QUICKSTART, WriteInventory, two_domains

#: a DNS provider whose name a spreadsheet would run as a formula, and a page would run as markup
HOSTILE = "=2+3<b>x</b>"


@pytest.fixture
async def hostile(seeded: Seeded, write_inventory: WriteInventory) -> Settings:
    """The seeded fleet with its DNS provider renamed `HOSTILE`, and mx1's IP blocklisted on two lists."""
    text = QUICKSTART.replace("    local:\n", f"    '{HOSTILE}':\n").replace(
        "dns_provider: local", f"dns_provider: '{HOSTILE}'"
    )
    app = App(seeded.settings)
    try:
        await import_inventory(app, write_inventory(text))
        listed = finding("dnsbl", "error", "listed")
        listed["findings"] = [{**listed["findings"][0], "id": "dnsbl.listed"}] * 2
        await record_results(app, [("127.0.0.10", "dnsbl", "error", listed, "listed on 2 lists")])
    finally:
        await app.close()
    return seeded.settings


def domains(html: str) -> list[str]:
    """The table's rows, in order."""
    return re.findall(r'<tr data-domain="([^"]+)"', html)


def test_headers_sort_by_any_column_both_ways(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/").text
    assert domains(page) == ["acme-mail.test", "acme-outreach.test"]  # worst first
    assert '<th aria-sort="descending"><a class="sort" data-sort="status"' in page
    assert 'data-sort="name" href="/?sort=name&amp;dir=asc"' in page
    by_name = client.get("/", params={"sort": "name", "dir": "desc", "q": "acme"}).text
    assert domains(by_name) == ["acme-outreach.test", "acme-mail.test"]
    assert 'data-sort="name" href="/?q=acme&amp;sort=name&amp;dir=asc"' in by_name  # flips, keeps the filters
    assert domains(client.get("/", params={"sort": "drift", "dir": "asc"}).text) == [
        "acme-outreach.test",
        "acme-mail.test",
    ]
    assert client.get("/", params={"sort": "password"}).status_code == 400


def test_filters_by_server_provider_and_check(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])

    def shown(**params: str) -> list[str]:
        return domains(client.get("/", params=params).text)

    assert shown(server="mx1") == ["acme-mail.test", "acme-outreach.test"]
    assert shown(server="mx9") == []
    assert shown(provider="local", check="drift", check_status="error") == ["acme-mail.test"]
    assert shown(check="drift") == ["acme-mail.test"]  # a check alone means its errors
    assert shown(check="spf", check_status="ok") == ["acme-mail.test", "acme-outreach.test"]
    fragment = client.get("/", params={"server": "mx1"}, headers={"HX-Request": "true", "HX-Target": "fleet"}).text
    assert fragment.startswith('<div id="fleet">') and "Current causes" not in fragment
    assert client.get("/", params={"check": "drift", "check_status": "purple"}).status_code == 400


def test_grouped_findings_read_one_cause_as_one_row(hostile: Settings, client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/").text
    server = page.split('data-group="dnsbl:127.0.0.10"')[1].split("</li>")[0]
    assert 'href="/servers/mx1"' in server and "dnsbl.listed ×2" in server
    assert "<strong>2</strong> domains" in server
    drift = page.split('data-group="drift"')[1].split("</li>")[0]
    assert 'href="/?check=drift&amp;check_status=error"' in drift and "<strong>1</strong> domain\n" in drift


def test_csv_export_of_the_filtered_set_neutralises_formulas(
    hostile: Settings, client: TestClient, seeded: Seeded
) -> None:
    login(client, seeded.keys["read"])
    response = client.get("/overview.csv", params={"check": "drift", "check_status": "error"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    checks = ["drift", "spf", "dkim", "dmarc", "dnsbl", "tls", "mailbox", "registration", "delegation", "sequencer"]
    assert rows[0] == ["domain", "server", "ip", "dns_provider", *checks, "status", "checked_at"]
    assert [r[0] for r in rows[1:]] == ["acme-mail.test"]
    assert rows[1][1:5] == ["mx1", "127.0.0.10", "'" + HOSTILE, "error"]  # a formula becomes text
    assert rows[1][8] == "error"  # blocklisted through its server
    everything = list(csv.reader(io.StringIO(client.get("/overview.csv").text)))
    assert len(everything) == 3


def test_every_value_on_the_overview_is_escaped(hostile: Settings, client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    page = client.get("/", params={"q": "<i>"}).text
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page  # the provider filter's option
    assert "<i>" not in page and 'value="&lt;i&gt;"' in page


def test_bulk_recheck_needs_a_write_key_and_the_token_and_runs_one_job(client: TestClient, seeded: Seeded) -> None:
    token = login(client, seeded.keys["read"])
    assert 'id="bulk-recheck"' not in client.get("/").text
    assert client.post("/overview/recheck", data={"csrf": token}).status_code == 403
    client.post("/logout", data={"csrf": token})
    token = login(client, seeded.keys["write"])
    page = client.get("/", params={"check": "drift"}).text
    assert "Re-check 1 domain(s)" in page and "at most 1,000 domains" in page
    assert client.post("/overview/recheck", data={"check": "drift"}).status_code == 403  # no CSRF token
    made = client.post("/overview/recheck", data={"csrf": token, "check": "drift", "check_status": "error"})
    assert made.status_code == 303 and made.headers["location"].startswith("/jobs/")
    job_id = made.headers["location"].rsplit("/", 1)[1]
    assert client.get(made.headers["location"]).status_code == 200

    async def read() -> tuple[str, dict[str, object]]:
        app = App(seeded.settings)
        try:
            job = await get_job(app, job_id)
        finally:
            await app.close()
        return job.kind, job.params

    kind, params = asyncio.run(read())
    assert kind == "recheck" and params["domains"] == ["acme-mail.test"] and params["family"] == "dns"
    empty = client.post("/overview/recheck", data={"csrf": token, "q": "no-such-domain"})
    assert empty.status_code == 400


async def test_in_a_browser_sort_filter_see_the_cause_export_and_recheck(
    hostile: Settings, live: str, page: Page, seeded: Seeded
) -> None:
    await log_in(page, live, seeded.keys["write"])
    await expect(page.locator('li[data-group="dnsbl:127.0.0.10"]')).to_contain_text("server mx1")
    await accessible(page)
    await shot(page, "overview-causes")
    await page.click('a[data-sort="name"]')
    await page.wait_for_url("**sort=name**")
    await expect(page.locator("tr[data-domain]").first).to_have_attribute("data-domain", "acme-mail.test")
    await page.click('a[data-sort="name"]')  # again: the other way
    await expect(page.locator("tr[data-domain]").first).to_have_attribute("data-domain", "acme-outreach.test")
    await page.select_option("#server", "mx1")  # htmx swaps the table and keeps the filter in the URL
    await expect(page).to_have_url(re.compile(r"server=mx1"))
    await expect(page.locator("tr[data-domain]")).to_have_count(2)
    await page.select_option("#check", "drift")
    await expect(page.locator("tr[data-domain]")).to_have_count(1)
    await expect(page.locator('tr[data-domain="acme-mail.test"] td[data-check="DNS drift"]')).to_have_class(
        "cell s-error"
    )
    await accessible(page)
    await shot(page, "overview-filtered")
    async with page.expect_download() as download:
        await page.click("#export")
    saved = await (await download.value).path()
    rows = list(csv.reader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [r[0] for r in rows] == ["domain", "acme-mail.test"] and rows[1][3] == "'" + HOSTILE
    await page.click("#bulk-recheck")
    await page.wait_for_url(f"{live}/jobs/**")
    await expect(page.locator("#job")).to_have_attribute("data-status", "succeeded", timeout=90_000)
    await accessible(page)
    await shot(page, "overview-recheck-job")


def test_a_workspace_key_exports_and_rechecks_only_its_own_domains(
    client: TestClient, seeded: Seeded, write_inventory: WriteInventory
) -> None:
    async def seed() -> str:
        app = App(seeded.settings)
        try:
            await workspaces.create(app, "south")
            with acting_in("south"):
                await import_inventory(app, write_inventory(two_domains("s1.test", "s2.test"), name="south.yaml"))
            return (await ApiKeyService(app).create("south-write", "write", source="test", workspace="south")).key
        finally:
            await app.close()

    key = asyncio.run(seed())
    token = login(client, key)
    exported = list(csv.reader(io.StringIO(client.get("/overview.csv").text)))
    assert [r[0] for r in exported[1:]] == ["s1.test", "s2.test"]
    assert client.get("/workspaces/default/overview.csv").status_code in (403, 404)
    made = client.post("/overview/recheck", data={"csrf": token})
    assert made.status_code == 303

    async def job_domains() -> object:
        app = App(seeded.settings)
        try:
            with acting_in("south"):
                return (await get_job(app, made.headers["location"].rsplit("/", 1)[1])).params["domains"]
        finally:
            await app.close()

    assert asyncio.run(job_domains()) == ["s1.test", "s2.test"]

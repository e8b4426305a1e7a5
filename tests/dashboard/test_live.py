"""Live pages (issue 24 item 9): a page follows its workspace's events over `/live` and re-reads itself
without a reload; the stream carries topics only, of the page's workspace only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from playwright.async_api import Page, expect

from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.scope import acting_in
from email_infrastructure.services.workspaces import create
from tests.dashboard.browser import log_in, shot
from tests.dashboard.conftest import Seeded, finding, login


async def _fail(seeded: Seeded, domain: str, workspace: str = "default") -> None:
    """The monitor finds `domain`'s SPF broken (a state change: one `check.failed` event)."""
    app = App(seeded.settings)
    try:
        with acting_in(workspace):
            await record_results(app, [(domain, "spf", "error", finding("spf", "error", "no SPF record"), "no SPF")])
    finally:
        await app.close()


def _first_message(client: TestClient, since: datetime, about: str = "") -> tuple[str, list[str]]:
    with client.stream("GET", "/live", params={"since": since.isoformat(), "about": about}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        event = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                return event, json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended without a message")


async def test_the_stream_says_what_changed_in_the_pages_workspace_only(client: TestClient, seeded: Seeded) -> None:
    before = datetime.now(UTC)
    app = App(seeded.settings)
    try:
        await create(app, "other")
    finally:
        await app.close()
    await _fail(seeded, "elsewhere.test", workspace="other")
    await _fail(seeded, "acme-outreach.test")
    login(client, seeded.keys["read"])
    event, topics = _first_message(client, before)
    assert event == "changed"
    assert topics == ["monitoring.check.failed"], topics  # the other workspace's failure is not announced


def test_the_stream_needs_a_session(client: TestClient, seeded: Seeded) -> None:
    response = client.get("/live")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_check_turning_red_shows_on_the_open_overview_without_a_reload(
    live: str, page: Page, seeded: Seeded
) -> None:
    await log_in(page, live, seeded.keys["read"])
    await page.goto(f"{live}/?q=outreach")  # a filtered view stays filtered when it re-reads itself
    row = page.locator('tr[data-domain="acme-outreach.test"]')
    await expect(row).not_to_have_attribute("data-status", "error")
    await page.evaluate("window.untouched = true")  # gone if the page were reloaded
    await _fail(seeded, "acme-outreach.test")
    await expect(row).to_have_attribute("data-status", "error", timeout=15_000)
    await expect(row.locator('td[data-check="SPF"]')).to_have_class("cell s-error")
    assert await page.evaluate("window.untouched === true")
    await expect(page.locator("tr[data-domain]")).to_have_count(1)
    await shot(page, "live-overview")


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_a_domain_page_shows_its_new_finding_without_a_reload(live: str, page: Page, seeded: Seeded) -> None:
    await log_in(page, live, seeded.keys["read"])
    await page.goto(f"{live}/domains/acme-outreach.test")
    await page.evaluate("window.untouched = true")
    await _fail(seeded, "acme-outreach.test")
    await expect(page.get_by_text("no SPF record").first).to_be_visible(timeout=15_000)
    assert await page.evaluate("window.untouched === true")


@pytest.mark.parametrize("path", ["/", "/mailboxes"])
def test_a_live_re_read_gets_the_whole_page_and_a_filters_swap_the_table(
    client: TestClient, seeded: Seeded, path: str
) -> None:
    login(client, seeded.keys["read"])
    table = {"/": "fleet", "/mailboxes": "mailboxes"}[path]
    whole = client.get(path, headers={"HX-Request": "true", "HX-Target": "live"}).text
    assert '<div id="live"' in whole and f'<div id="{table}">' in whole
    alone = client.get(path, headers={"HX-Request": "true", "HX-Target": table}).text
    assert alone.startswith(f'<div id="{table}">')


async def test_a_domain_pages_stream_brings_only_what_concerns_that_domain(client: TestClient, seeded: Seeded) -> None:
    """Its page re-reads the DNS provider: another domain's check must not cost that read."""
    before = datetime.now(UTC)
    await _fail(seeded, "acme-outreach.test")  # another domain's failure first
    app = App(seeded.settings)
    try:
        # acme-mail.test's drift recovers (the seed had it failing): its page's event, another topic
        await record_results(app, [("acme-mail.test", "drift", "ok", finding("drift", "ok", ""), "ok")])
    finally:
        await app.close()
    login(client, seeded.keys["read"])
    event, topics = _first_message(client, before, about="acme-mail.test")
    assert (event, topics) == ("changed", ["monitoring.check.recovered"])  # not the other domain's failure
    page = client.get("/domains/acme-mail.test").text
    assert "about=acme-mail.test" in page  # the page's own stream asks for its domain

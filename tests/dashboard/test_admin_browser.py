"""The admin pages in a real headless Chromium (issue 24 item 8): create a key and see it once, revoke it;
add a webhook sink pointing at a receiver on loopback, test-send it and see it arrive, remove it; the
vault page. Each page passes axe-core and leaves a screenshot."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from tests.dashboard.browser import accessible, log_in, shot
from tests.dashboard.conftest import Seeded
from tests.fakes.http_server import FakeServer
from tests.services.test_alert_sinks import TOKEN, Recorder


async def admin_key(seeded: Seeded) -> str:
    """An admin key of every workspace (the seeded fixture has read and write keys only)."""
    app = App(seeded.settings)
    try:
        return (await ApiKeyService(app).create("boss", "admin", source="test")).key
    finally:
        await app.close()


async def test_create_a_key_see_it_once_and_revoke_it(live: str, page: Page, seeded: Seeded) -> None:
    await log_in(page, live, await admin_key(seeded))
    await page.click("nav >> text=Admin")
    await expect(page.locator("h1")).to_have_text("API keys")
    await accessible(page)
    await shot(page, "admin-keys")

    await page.fill("#key-name", "ci-runner")
    await page.select_option("#key-scope", "write")
    await page.click("button:has-text('Create key')")
    shown = await page.locator("#new-key").input_value()
    assert shown.startswith("eik_")
    await expect(page.locator("tr[data-key='ci-runner']")).to_have_attribute("data-state", "active")
    await accessible(page)
    await shot(page, "admin-key-created")

    await page.click(".subnav >> text=API keys")  # the list again: the key is not there any more
    assert shown not in await page.content()
    await expect(page.locator("#new-key")).to_have_count(0)

    await page.click("a[aria-label='Revoke ci-runner']")
    await expect(page.locator("h1")).to_have_text("Revoke the key ci-runner?")
    await accessible(page)
    await shot(page, "admin-key-revoke")
    await page.click("button:has-text('Revoke ci-runner')")
    await expect(page.locator("tr[data-key='ci-runner']")).to_have_attribute("data-state", "revoked")


async def test_add_test_and_remove_a_webhook_sink(live: str, page: Page, seeded: Seeded) -> None:
    recorder = Recorder()
    with FakeServer(recorder) as receiver:
        await log_in(page, live, await admin_key(seeded))
        await page.goto(f"{live}/admin/alerts")
        await accessible(page)
        await shot(page, "admin-alerts-empty")

        await page.fill("#webhook-name", "ops-hook")
        await page.fill("#webhook-url", f"{receiver.url}/hook/{TOKEN}")
        await page.check("#take-over-webhook")  # the quickstart file owns the monitoring settings
        await page.click("button:has-text('Add webhook')")
        row = page.locator("tr[data-sink='ops-hook']")
        await expect(row).to_contain_text(f"{receiver.url}/…/****")
        assert TOKEN not in await page.content()

        await row.locator("button:has-text('Test')").click()
        await expect(page.locator("p.flash.s-ok")).to_contain_text("a test alert was delivered to ops-hook")
        assert [path for path, _, _ in recorder.seen] == [f"/hook/{TOKEN}"]
        assert recorder.seen[0][2]["payload"]["subject"] == "ops-hook"
        await accessible(page)
        await shot(page, "admin-alerts-tested")

        await page.locator("tr[data-sink='ops-hook'] button:has-text('Remove')").click()
        await expect(page.locator("tr[data-sink='ops-hook']")).to_have_count(0)


async def test_the_vault_page(live: str, page: Page, seeded: Seeded) -> None:
    await log_in(page, live, await admin_key(seeded))
    await page.goto(f"{live}/admin/vault")
    await expect(page.locator("#key-id")).to_have_text(re.compile(r"^[0-9a-f]{16}$"))
    await expect(page.locator("#secrets")).to_contain_text("all decrypt")
    await accessible(page)
    await shot(page, "admin-vault")


@pytest.mark.parametrize("backend", ["sqlite"])  # what the pages show does not depend on the database
@pytest.mark.parametrize("path", ["/admin/keys", "/admin/alerts", "/admin/vault", "/admin/keys/boss/revoke"])
async def test_the_admin_pages_are_accessible_in_the_dark(live: str, page: Page, seeded: Seeded, path: str) -> None:
    await page.emulate_media(color_scheme="dark")
    await log_in(page, live, await admin_key(seeded))
    response = await page.goto(f"{live}{path}")
    assert response is not None and response.status == 200
    await accessible(page)
    await shot(page, "admin-dark-" + path.strip("/").replace("/", "-"))

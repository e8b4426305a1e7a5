"""Create and edit in a real headless Chromium (issue 24 item 4): a new user adds a domain and two mailboxes,
sees the plan, applies it and watches it turn green; then changes its DMARC policy and removes it, each
through its plan. Every new page passes axe and is screenshotted."""

from __future__ import annotations

from typing import Literal

import pytest
from playwright.async_api import Page, expect

from email_infrastructure.services.app import App
from email_infrastructure.services.domains import add_domain
from tests.dashboard.browser import accessible, log_in, shot
from tests.dashboard.conftest import Seeded

#: an apply of one domain on loopback (zone files, a DKIM key) takes well under this
APPLIED = 90_000


async def _applied(page: Page, live: str) -> None:
    """On the job page the apply reaches `succeeded` (htmx polls its progress)."""
    await page.wait_for_url(f"{live}/jobs/*")
    await expect(page.locator("#job")).to_have_attribute("data-status", "succeeded", timeout=APPLIED)
    await expect(page.locator("#job-status")).to_have_text("succeeded")


async def test_a_new_user_adds_a_domain_with_two_mailboxes_and_watches_it_turn_green(
    live: str, page: Page, seeded: Seeded
) -> None:
    await log_in(page, live, seeded.keys["write"])
    await page.click("nav >> text=Add domain")
    await page.wait_for_url(f"{live}/domains/new")
    await expect(page.locator("#dns_provider")).to_have_value("local")  # the stored defaults, prefilled
    await accessible(page)
    await shot(page, "edit-new-domain")

    await page.fill("#name", "new-brand.test")
    await page.fill("#mailboxes", "Ann Park\nBen Ruiz")
    await page.click("#preview")
    await expect(page.locator("h1")).to_contain_text("new-brand.test")
    await expect(page.locator('[data-step="dns.zone:new-brand.test"]')).to_be_visible()
    await expect(page.locator("#change")).to_contain_text("ann.park@new-brand.test")
    await accessible(page)
    await shot(page, "edit-new-domain-plan")

    await page.click("#confirm")
    await _applied(page, live)
    await expect(page.locator('#job-outcomes [data-step="dns.zone:new-brand.test"]')).to_contain_text("applied")
    await accessible(page)
    await shot(page, "edit-new-domain-applied")

    await page.goto(f"{live}/domains/new-brand.test")
    records = page.locator("table.records tbody tr")
    await expect(records.first).to_be_visible()
    assert await records.count() == await page.locator("table.records tr.r-in-sync").count()  # every record green
    await expect(page.locator("#domain-actions")).to_be_visible()
    await page.click("#domain-actions summary")
    await accessible(page)
    await shot(page, "edit-domain-actions")


async def test_a_domains_policy_is_changed_and_the_domain_removed_each_through_its_plan(
    live: str, page: Page, seeded: Seeded
) -> None:
    await log_in(page, live, seeded.keys["write"])
    await page.goto(f"{live}/domains/new")
    await page.fill("#name", "short-lived.test")
    await page.fill("#mailboxes", "Ann Park")
    await page.click("#preview")
    await page.click("#confirm")
    await _applied(page, live)

    await page.goto(f"{live}/domains/short-lived.test")
    await page.click("#domain-actions summary")
    await page.select_option("#dmarc-policy", "reject")
    await page.click("#dmarc-preview")
    await expect(page.locator('[data-step="dns.zone:short-lived.test"]')).to_contain_text("p=reject")
    await accessible(page)
    await shot(page, "edit-dmarc-plan")
    await page.click("#confirm")
    await _applied(page, live)

    await page.goto(f"{live}/domains/short-lived.test")
    await page.click("#domain-actions summary")
    await page.click("#remove-domain-preview")
    await expect(page.locator("#deletes")).to_contain_text("dns.zone:short-lived.test")
    await accessible(page)
    await shot(page, "edit-remove-plan")
    await page.fill("#confirm_name", "short-lived.test")
    await page.click("#confirm")
    await _applied(page, live)
    response = await page.goto(f"{live}/domains/short-lived.test")
    assert response is not None and response.status == 404


async def test_a_files_domain_shows_its_file_and_no_change(live: str, page: Page, seeded: Seeded) -> None:
    await log_in(page, live, seeded.keys["write"])
    await page.goto(f"{live}/domains/acme-mail.test")
    await expect(page.locator("#managed-by")).to_contain_text("inventory.yaml")
    assert await page.locator("#domain-actions").count() == 0
    await accessible(page)


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_the_edit_pages_are_accessible_in_both_schemes(
    live: str, page: Page, seeded: Seeded, scheme: Literal["light", "dark"]
) -> None:
    app = App(seeded.settings)
    try:
        await add_domain(app, "own-brand.test", mailboxes=[{"first_name": "Eve", "last_name": "Ng"}])
    finally:
        await app.close()
    await page.emulate_media(color_scheme=scheme)
    await log_in(page, live, seeded.keys["write"])
    await page.goto(f"{live}/domains/new")
    await page.fill("#name", "not a domain")
    await page.click("#preview")
    await expect(page.locator("#edit-error")).to_be_visible()
    await accessible(page)
    await shot(page, f"edit-new-domain-error-{scheme}")
    await page.goto(f"{live}/domains/own-brand.test")
    await page.click("#domain-actions summary")
    await accessible(page)
    await shot(page, f"edit-domain-actions-{scheme}")
    await page.click("#remove-domain-preview")
    await expect(page.locator("#nothing-to-delete")).to_be_visible()  # never applied
    await accessible(page)
    await shot(page, f"edit-remove-preview-{scheme}")

"""Every page in a real headless Chromium: keyboard and screen-reader basics pass axe-core (no serious
or critical violation), and a screenshot of each lands in test-artifacts/screenshots/."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.dashboard.browser import accessible, log_in, shot
from tests.dashboard.conftest import Seeded

#: what the pages show does not depend on the database: SQLite only (the page tests run both)
pytestmark = pytest.mark.parametrize("backend", ["sqlite"])

#: (screenshot name, path) of every page a logged-in user reaches on the seeded quickstart
PAGES = [
    ("overview", "/"),
    ("domain", "/domains/acme-mail.test"),
    ("servers", "/servers"),
    ("server", "/servers/mx1"),
    ("mailboxes", "/mailboxes"),
    ("mailbox", "/mailboxes/ann.lee@acme-outreach.test"),
    ("plan-start", "/plan"),
    ("jobs", "/jobs"),
    ("events", "/events"),
    ("dmarc", "/dmarc"),
    ("workspaces", "/workspaces"),
]


async def test_the_login_page_is_accessible(live: str, page: Page) -> None:
    await page.goto(f"{live}/login")
    await accessible(page)
    await shot(page, "a11y-login")


@pytest.mark.parametrize(("name", "path"), PAGES, ids=[name for name, _ in PAGES])
async def test_every_page_is_accessible_in_light_and_dark(
    live: str, page: Page, seeded: Seeded, name: str, path: str
) -> None:
    await log_in(page, live, seeded.keys["write"])
    response = await page.goto(f"{live}{path}")
    assert response is not None and response.status == 200, (path, response and response.status)
    await expect(page.locator("main")).to_be_visible()
    for scheme in ("light", "dark"):
        await page.emulate_media(color_scheme=scheme)
        await accessible(page)
        await shot(page, f"a11y-{name}-{scheme}")


async def test_the_keyboard_alone_reaches_a_failing_domain(live: str, page: Page, seeded: Seeded) -> None:
    await log_in(page, live, seeded.keys["read"])
    await page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    await expect(skip).to_be_focused()
    await expect(skip).to_be_visible()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    # from the content, Tab walks the filters to the first domain link; Enter opens it
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim()") == "acme-mail.test":
            break
    else:
        raise AssertionError("Tab never reached the failing domain's link")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{live}/domains/acme-mail.test")

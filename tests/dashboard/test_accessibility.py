"""Every page in a real headless Chromium: keyboard and screen-reader basics pass axe-core (no serious
or critical violation), and a screenshot of each lands in test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Literal

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


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(("name", "path"), PAGES, ids=[name for name, _ in PAGES])
async def test_every_page_is_accessible(
    live: str, page: Page, seeded: Seeded, name: str, path: str, scheme: Literal["light", "dark"]
) -> None:
    await page.emulate_media(color_scheme=scheme)
    await log_in(page, live, seeded.keys["write"])
    response = await page.goto(f"{live}{path}")
    assert response is not None and response.status == 200, (path, response and response.status)
    await expect(page.locator("main")).to_be_visible()
    await accessible(page)
    await shot(page, f"a11y-{name}-{scheme}")

"""The browser kit of the dashboard tests: one headless Chromium per session, a dashboard served on
loopback in this process, logging in, screenshots and the accessibility check (axe-core, vendored).

Chromium is Debian's (`/usr/bin/chromium`, scripts/install-os-deps), never a downloaded browser; the
fixtures that use it are in tests/dashboard/conftest.py (`browser`, `live`, `page`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn

from email_infrastructure.api.app import create_app
from email_infrastructure.core.settings import Settings
from email_infrastructure.dashboard import extension
from tests.api.conftest import free_port

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = "/usr/bin/chromium"
#: without these Chromium keeps opening connections to the internet (reference/app-stack.md §3)
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: where every page's screenshot lands (kept by CI as test artifacts)
SHOTS = Path(__file__).parents[2] / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
#: what fails the accessibility check: axe's two worst impacts
SERIOUS = ("serious", "critical")


@contextmanager
def serving(settings: Settings, timeout: float = 30) -> Iterator[str]:
    """The API with the dashboard served by uvicorn on a free loopback port in a thread; its base URL."""
    app = create_app(settings=settings, extensions=[extension])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name=f"dashboard-{port}", daemon=True)
    thread.start()
    until = time.monotonic() + timeout
    # uvicorn says `started` once its lifespan ran and the socket listens
    while not server.started:
        if not thread.is_alive() or time.monotonic() > until:
            raise RuntimeError(f"the dashboard did not start on port {port} within {timeout} s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)


async def log_in(page: Page, url: str, key: str) -> None:
    """Log in through the form with `key`; the page is on the overview afterwards."""
    await page.goto(f"{url}/login")
    await page.fill("#key", key)
    await page.click("button:has-text('Log in')")
    await page.wait_for_url(f"{url}/")


async def shot(page: Page, name: str) -> None:
    """A full-page screenshot as test-artifacts/screenshots/`name`.png."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


async def violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as shown (WCAG 2.x A and AA rules)."""
    # evaluate runs through the DevTools protocol: the page's CSP (script-src 'self') does not apply
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = await page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["html"][:200] for n in v["nodes"][:3]]}
        for v in result["violations"]
        if v.get("impact") in SERIOUS
    ]


async def accessible(page: Page) -> None:
    """Fail with axe's findings when the page has a serious or critical accessibility violation."""
    found = await violations(page)
    assert found == [], f"{page.url}: {found}"


__all__ = ["CHROMIUM", "FLAGS", "SHOTS", "accessible", "log_in", "serving", "shot", "violations"]

"""The dashboard under test: seeded through the services, served by FastAPI's TestClient (its own App)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.api.app import create_app
from email_infrastructure.core.settings import Settings
from email_infrastructure.dashboard import extension
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.storage.db import Database
from tests.conftest import service_missing
from tests.dashboard.browser import CHROMIUM, FLAGS, serving
from tests.services.conftest import QUICKSTART, WriteInventory, write_inventory

if TYPE_CHECKING:
    from playwright.async_api import Browser, Dialog, Page

__all__ = ["write_inventory"]  # the service tests' inventory fixture, used here too

#: the only script tags a page may carry: ours, vendored, from /static (never inline)
SCRIPTS = {'<script src="/static/htmx.min.js" defer>', '<script src="/static/htmx-ext-sse.min.js" defer>'}


def scripts_of(html: str) -> set[str]:
    """The page's script tags; a page has htmx at least, and nothing but SCRIPTS."""
    found = re.findall(r"<script[^>]*>", html)
    assert '<script src="/static/htmx.min.js" defer>' in found and set(found) <= SCRIPTS, found
    return set(found)


#: what a hostile TXT record (or a finding quoting it) carries
SCRIPT = '<script>alert("xss")</script>'
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def finding(check: str, status: str, message: str, evidence: tuple[str, ...] = ()) -> dict[str, Any]:
    """A stored result as monitoring writes it (CheckResult.to_json, docs/audit-format.md)."""
    if status not in ("error", "warning"):
        return {"status": status, "findings": []}
    found = {"id": f"{check}.changed", "severity": status, "message": message, "evidence": list(evidence)}
    return {"status": status, "findings": [found]}


@dataclass
class Seeded:
    """Settings of the seeded database and one API key per scope."""

    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def seeded(settings: Settings, database: Database, write_inventory: WriteInventory) -> AsyncIterator[Seeded]:
    """The quickstart in the desired state (not applied), keys, and stored check states: acme-mail.test
    fails DNS drift with a TXT value that carries a script, acme-outreach.test passes."""
    config = settings.model_copy(update={"database_url": database.url})
    app = App(config)
    try:
        await import_inventory(app, write_inventory(QUICKSTART))
        made = Seeded(config)
        for scope in ("read", "write"):
            made.keys[scope] = (await ApiKeyService(app).create(f"dash-{scope}", scope, source="test")).key
        drift = f"_dmarc.acme-mail.test TXT differs from the desired value: {SCRIPT}"
        await record_results(
            app,
            [
                ("acme-outreach.test", "drift", "ok", finding("drift", "ok", ""), "ok"),
                ("acme-outreach.test", "spf", "ok", finding("spf", "ok", ""), "ok"),
                ("acme-mail.test", "drift", "error", finding("drift", "error", drift, (f"live: {SCRIPT}",)), drift),
                ("acme-mail.test", "spf", "ok", finding("spf", "ok", ""), "ok"),
                ("127.0.0.10", "dnsbl", "ok", finding("dnsbl", "ok", ""), "ok"),
            ],
        )
        yield made
    finally:
        await app.close()


@pytest.fixture
def client(seeded: Seeded) -> Iterator[TestClient]:
    """The API with the dashboard, on the seeded database (its lifespan opens its own App)."""
    with TestClient(create_app(settings=seeded.settings, extensions=[extension]), follow_redirects=False) as tc:
        yield tc


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium (never a downloaded browser); fails instead of skipping when services are required."""
    if not Path(CHROMIUM).exists():
        service_missing(f"{CHROMIUM} is not installed (Debian chromium: scripts/install-os-deps)")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium: str) -> AsyncIterator[Browser]:
    """One headless Chromium for the whole session (each test opens its own context: cookies apart)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def live(seeded: Seeded) -> Iterator[str]:
    """The seeded dashboard served on a loopback port (uvicorn in a thread of this process); its URL."""
    with serving(seeded.settings) as url:
        yield url


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh page (its own cookies) that fails the test if any dialog opens: no script of a value ever runs."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    opened: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        opened.append(dialog.message)
        await dialog.dismiss()

    made = await context.new_page()
    made.on("dialog", on_dialog)
    try:
        yield made
    finally:
        await context.close()
    assert opened == [], f"a dialog opened: {opened}"


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found[1]


def login(client: TestClient, key: str) -> str:
    """Log in through the form; the new session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "key": key, "next": "/"})
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/").text)

"""End to end in a real headless Chromium (Debian's, driven by Playwright) against `email-infra serve`.

The fleet's DNS is a real PowerDNS on loopback: the seed applies two domains through the services,
then someone puts a script into one domain's DMARC record at the provider and the monitor finds
the drift. In the browser: log in, see the failing domain, open it (the script is shown, never
run), plan, apply with live progress, re-check, see it turn green, log out. Screenshots of every
page land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.core.settings import Settings
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import plans
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService
from email_infrastructure.services.scope import acting_in
from tests.api.conftest import free_port, wait_healthy
from tests.dashboard.browser import FLAGS, SHOTS
from tests.dmarc.reports import Row, aggregate
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import two_domains

pytestmark = pytest.mark.pdns

SCRIPT = "<script>alert(1)</script>"


@dataclass
class Fleet:
    """The served dashboard, its (operator) key, the two domains, and another workspace with its domain."""

    url: str
    key: str
    good: str
    bad: str
    workspace: str
    client_domain: str


def _inventory(pdns: PowerDns, good: str, bad: str) -> str:
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
servers:
  - {{name: mx1, hostname: mail.{good}, ipv4: 127.0.0.10}}
defaults:
  dns_provider: pdns
  server: mx1
  dmarc: {{policy: none, rua: ["mailto:dmarc@{good}"]}}
monitoring:
  nameservers: ["{pdns.address}:{pdns.dns_port}"]
domains:
  - name: {good}
    mailboxes:
      - {{first_name: Ann, last_name: Lee}}
  - name: {bad}
    mailboxes:
      - {{first_name: Cara, last_name: Diaz}}
"""


def _tamper(pdns: PowerDns, zone: str) -> None:
    """Someone edits the DMARC record at the provider (test setup through its API, not our code)."""
    rrset = {
        "name": f"_dmarc.{zone}.",
        "type": "TXT",
        "ttl": 300,
        "changetype": "REPLACE",
        "records": [{"content": f'"v=DMARC1; p=none; {SCRIPT}"', "disabled": False}],
    }
    httpx.patch(
        f"{pdns.api_url}/api/v1/servers/localhost/zones/{zone}.",
        json={"rrsets": [rrset]},
        headers={"X-API-Key": pdns.api_key},
        timeout=10,
    ).raise_for_status()


@pytest.fixture
async def fleet(
    chromium: str, pdns: PowerDns, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Fleet]:
    """Two applied domains, one drifted and found failing by the monitor; `email-infra serve` on them."""
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    tag = uuid.uuid4().hex[:8]
    good, bad = f"ok{tag}.test", f"drift{tag}.test"
    client_ws, client_domain = f"client-{tag}", f"client{tag}.test"
    path = tmp_path / "inventory.yaml"
    path.write_text(_inventory(pdns, good, bad), encoding="utf-8")
    app = App(settings)
    try:
        applied = await plans.apply(app, source=load_inventory(path, provider_schemas()))
        assert not applied.failed, [o.error for o in applied.failed]
        _tamper(pdns, bad)
        monitor = await MonitorService.create(app, MonitorRequest(nameservers=[f"{pdns.address}:{pdns.dns_port}"]))
        try:
            await monitor.run_once(["dns"])
        finally:
            await monitor.close()
        key = (await ApiKeyService(app).create("browser", "write", source="test")).key
        # a DMARC report from an organisation whose name carries a script: the DMARC page shows it inert
        reports = tmp_path / "reports"
        reports.mkdir()
        org = f"evil{SCRIPT}.example".replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        rows = [Row("127.0.0.10", 30, header_from=good), Row("198.51.100.5", 10, dkim="fail", spf="fail")]
        (reports / "a.xml").write_bytes(aggregate(rows, domain=good, org=org))
        ingested = await ingest_paths(app, [reports], IngestOptions(resolve=False))
        assert ingested.count("ingested") == 1, ingested.to_json()
        # a client's workspace beside the default one, its domain desired only (the operator switches to it)
        client_path = tmp_path / "client.yaml"
        client_path.write_text(two_domains(client_domain, f"second{tag}.test"), encoding="utf-8")
        with acting_in(client_ws):
            await import_inventory(app, load_inventory(client_path, provider_schemas()))
    finally:
        await app.close()

    port = free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(
        EMAIL_INFRA_DATA_DIR=str(settings.data_dir),
        EMAIL_INFRA_CONFIG_DIR=str(tmp_path / "no-config"),
        EMAIL_INFRA_NAMESERVERS=f"{pdns.address}:{pdns.dns_port}",
        PDNS_TEST_KEY=pdns.api_key,
    )
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "email_infrastructure", "serve", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
            env=env,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield Fleet(url, key, good, bad, client_ws, client_domain)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        pdns.drop_zones([good, bad])


async def test_log_in_see_the_failing_domain_plan_apply_and_see_it_turn_green(fleet: Fleet, chromium: str) -> None:
    from playwright.async_api import Dialog, async_playwright, expect

    SHOTS.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []

    async def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("dialog", on_dialog)

            await page.goto(f"{fleet.url}/")
            assert "/login" in page.url
            await page.screenshot(path=SHOTS / "login.png", full_page=True)
            await page.fill("#key", fleet.key)
            await page.click("button:has-text('Log in')")
            await page.wait_for_url(f"{fleet.url}/")

            failing = page.locator(f'tr[data-domain="{fleet.bad}"]')
            await expect(failing).to_have_attribute("data-status", "error")
            await expect(failing.locator('td[data-check="DNS drift"]')).to_have_class("cell s-error")
            await expect(page.locator(f'tr[data-domain="{fleet.good}"] td[data-check="DNS drift"]')).to_have_class(
                "cell s-ok"
            )
            await page.screenshot(path=SHOTS / "overview.png", full_page=True)

            await page.fill("#q", fleet.bad[:9])  # htmx swaps the table as one types
            await expect(page.locator("tr[data-domain]")).to_have_count(1)
            await page.click(f"a:has-text('{fleet.bad}')")
            await page.wait_for_url(f"{fleet.url}/domains/{fleet.bad}")
            # the hostile TXT value is on the page as text (the diff's live side and the finding's evidence)
            await expect(page.get_by_text(SCRIPT).first).to_be_visible()
            await expect(page.locator("tr.r-different")).to_have_count(1)
            await expect(page.get_by_text("drift.changed").first).to_be_visible()
            await page.screenshot(path=SHOTS / "domain.png", full_page=True)

            await page.click("a:has-text('Plan the fix')")
            await page.click("#make-plan")
            await expect(page.get_by_text(f"dns.zone:{fleet.bad}")).to_be_visible()
            await page.screenshot(path=SHOTS / "plan.png", full_page=True)
            await page.click("#apply")
            await page.wait_for_url(f"{fleet.url}/jobs/**")
            await expect(page.locator("#job")).to_have_attribute("data-status", "succeeded", timeout=90_000)
            await expect(page.locator("#job-status")).to_have_text("succeeded")
            await page.screenshot(path=SHOTS / "job.png", full_page=True)

            await page.goto(f"{fleet.url}/domains/{fleet.bad}")
            await expect(page.locator("tr.r-different")).to_have_count(0)
            await page.click("#recheck")
            await page.wait_for_url(f"{fleet.url}/domains/{fleet.bad}")
            await expect(page.locator('tr[data-check="drift"] .badge')).to_have_text("ok")
            await page.goto(f"{fleet.url}/")
            await expect(page.locator(f'tr[data-domain="{fleet.bad}"] td[data-check="DNS drift"]')).to_have_class(
                "cell s-ok"
            )
            await expect(page.locator(f'tr[data-domain="{fleet.bad}"]')).not_to_have_attribute("data-status", "error")
            await page.screenshot(path=SHOTS / "overview-after-apply.png", full_page=True)

            await page.goto(f"{fleet.url}/events")
            await expect(page.get_by_text("api.job.finished").first).to_be_visible()
            await page.screenshot(path=SHOTS / "events.png", full_page=True)

            await page.click("nav a:has-text('DMARC')")
            await page.wait_for_url(f"{fleet.url}/dmarc")
            await expect(page.locator(".dmarc-sources").get_by_text("198.51.100.5")).to_be_visible()
            await expect(page.get_by_text(f"evil{SCRIPT}.example")).to_be_visible()
            await page.screenshot(path=SHOTS / "dmarc.png", full_page=True)

            phone = await browser.new_page(viewport={"width": 390, "height": 844})
            await phone.context.add_cookies(await page.context.cookies())
            await phone.goto(f"{fleet.url}/")
            await expect(phone.locator(f'tr[data-domain="{fleet.bad}"]')).to_be_visible()
            await phone.screenshot(path=SHOTS / "overview-phone.png", full_page=True)

            # the operator's switcher: choosing a workspace goes to the same page of it (htmx, no inline script)
            await page.select_option("#workspace", fleet.workspace)
            await page.wait_for_url(f"{fleet.url}/workspaces/{fleet.workspace}/dmarc")
            await page.click("nav a:has-text('Overview')")
            await page.wait_for_url(f"{fleet.url}/workspaces/{fleet.workspace}/")
            await expect(page.locator(f'tr[data-domain="{fleet.client_domain}"]')).to_be_visible()
            await expect(page.locator(f'tr[data-domain="{fleet.bad}"]')).to_have_count(0)
            await expect(page.locator("#workspace")).to_have_value(fleet.workspace)
            await page.screenshot(path=SHOTS / "workspace-overview.png", full_page=True)
            await page.click("nav a:has-text('Workspaces')")
            await page.wait_for_url(f"{fleet.url}/workspaces")
            # the default workspace fails its DMARC pass rate (the report above); the client's fails nothing
            await expect(page.locator('tr[data-workspace="default"]')).to_have_attribute("data-status", "error")
            await expect(page.locator(f'tr[data-workspace="{fleet.workspace}"]')).to_have_attribute("data-status", "ok")
            await expect(page.locator(f'tr[data-workspace="{fleet.workspace}"] [data-count="domains"]')).to_have_text(
                "2"
            )
            await page.screenshot(path=SHOTS / "workspaces.png", full_page=True)
            await page.click('tr[data-workspace="default"] a:has-text("default")')
            await page.wait_for_url(f"{fleet.url}/workspaces/default/")
            await expect(page.locator(f'tr[data-domain="{fleet.bad}"]')).to_be_visible()

            await page.click("button:has-text('Log out')")
            await page.wait_for_url(f"{fleet.url}/login")
            await page.goto(f"{fleet.url}/plan")
            assert "/login" in page.url
        finally:
            await browser.close()
    assert dialogs == []  # the script in the TXT record never ran

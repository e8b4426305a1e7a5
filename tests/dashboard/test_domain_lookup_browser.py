"""The domain page and the lookup box in a real headless Chromium: grouped findings fold and unfold
without script, the chart is an image with words, a lookup from the header box shows the audit;
axe finds no serious violation and each page's screenshot is kept."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from email_infrastructure.services.records import desired_records
from tests.dashboard.browser import accessible, log_in, shot
from tests.dashboard.conftest import SCRIPT, Seeded
from tests.dashboard.test_domain_page import DOMAIN, missing, store_at
from tests.dashboard.test_lookup import HOSTILE
from tests.fixtures.pdns import PowerDns
from tests.monitoring.zones import load_zones, txt


async def test_the_domain_page_folds_70_findings_into_one_group(live: str, page: Page, seeded: Seeded) -> None:
    from email_infrastructure.services.app import App

    app = App(seeded.settings)
    try:
        desired = (await desired_records(app, DOMAIN)).records
    finally:
        await app.close()
    findings = [missing(r.name, r.type) for r in desired]
    findings += [missing(f"h{n}.{DOMAIN}", "A") for n in range(70 - len(findings))]
    await store_at(
        seeded.settings,
        datetime.now(UTC),
        [(DOMAIN, "drift", "error", {"status": "error", "findings": findings}, "70")],
    )
    await log_in(page, live, seeded.keys["read"])
    await page.goto(f"{live}/domains/{DOMAIN}")
    group = page.locator('details[data-finding="drift.missing"]')
    await expect(group.locator("summary")).to_contain_text("× 70")
    await expect(group.locator("li").first).to_be_hidden()  # folded: the page stays short
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 6000, height  # 70 boxes made one such page 16,140 px tall
    await expect(page.locator("th.source")).to_have_text(
        [re.compile(s) for s in ("^Desired", "^At the provider", "^DNS answer")]
    )
    await expect(page.locator('svg.chart[role="img"]')).to_be_visible()
    await expect(page.locator('svg.chart g.lane[data-check="drift"] rect.band.f-error')).to_have_count(1)
    await accessible(page)
    await shot(page, "domain-page")
    await group.locator("summary").click()  # unfolds without script
    await expect(group.locator("li").first).to_be_visible()
    await shot(page, "domain-page-findings-open")


@pytest.mark.pdns
async def test_a_lookup_from_the_header_box_shows_the_audit(
    live: str, page: Page, seeded: Seeded, audit_dns: PowerDns, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the served dashboard's audits ask the loopback PowerDNS (its settings name no resolver)
    ns = f"{audit_dns.address}:{audit_dns.dns_port}"
    monkeypatch.setattr("email_infrastructure.services.audit.nameservers_for", lambda app, explicit, inventory: [ns])
    load_zones(audit_dns, {HOSTILE: [(HOSTILE, "TXT", txt(f"v=spf1 {SCRIPT} -all"))]})
    await log_in(page, live, seeded.keys["read"])
    await page.fill("#lookup-q", "twospf.test")
    await page.press("#lookup-q", "Enter")
    await page.wait_for_url(f"{live}/lookup?q=twospf.test")
    await expect(page.locator("#lookup-result")).to_have_attribute("data-status", "error")
    await expect(page.locator('article[data-finding="spf.multiple_records"]')).to_contain_text("How to fix:")
    await accessible(page)
    await shot(page, "lookup-domain")

    await page.fill("#lookup-page-q", "127.0.0.2")
    await page.click("#lookup-go")
    await expect(page.locator("#lookup-result")).to_have_attribute("data-kind", "ip")
    await expect(page.locator('article[data-finding="dnsbl.listed"]').first).to_be_visible()
    await accessible(page)
    await shot(page, "lookup-ip")

    await page.fill("#lookup-page-q", HOSTILE)
    await page.click("#lookup-go")
    await expect(page.get_by_text(SCRIPT).first).to_be_visible()  # shown as text; a dialog would fail the test

    await page.fill("#lookup-page-q", "../etc/passwd")
    await page.click("#lookup-go")
    await expect(page.locator("#lookup-error")).to_contain_text("neither a domain name nor an IP address")
    await accessible(page)
    await shot(page, "lookup-bad-input")

"""The DMARC page and the domain page's DMARC section (TestClient): figures shown, everything escaped."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from markupsafe import escape

from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from tests.dashboard.conftest import SCRIPT, Seeded, login
from tests.dmarc.reports import Row, aggregate, tlsrpt

HOSTILE_ORG = f"evil{SCRIPT}.example"


def days_ago(days: int) -> tuple[int, int]:
    """A day-long report period that ended `days` days (and an hour) ago."""
    end = datetime.now(UTC) - timedelta(days=days, hours=1)
    return int((end - timedelta(days=1)).timestamp()), int(end.timestamp())


def seed_reports(seeded: Seeded, folder: Path) -> None:
    """acme-outreach.test: 30 of 40 messages pass (198.51.100.5 fails, from an org whose name carries a
    script); acme-mail.test: a TLS report with 2 expired-certificate failures."""
    folder.mkdir()
    org = HOSTILE_ORG.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")  # XML-escaped in the file
    (folder / "a.xml").write_bytes(
        aggregate(
            [Row("127.0.0.10", 30), Row("198.51.100.5", 10, dkim="fail", spf="fail")],
            org=org,
            dates=days_ago(2),
        )
    )
    (folder / "tls.json").write_bytes(tlsrpt())

    async def go() -> None:
        app = App(seeded.settings)
        try:
            summary = await ingest_paths(app, [folder], IngestOptions(resolve=False))
            assert summary.count("ingested") == 2, summary.to_json()
        finally:
            await app.close()

    asyncio.run(go())


def test_the_dmarc_page_shows_rates_failing_sources_and_tls_failures(
    client: TestClient, seeded: Seeded, tmp_path: Path
) -> None:
    seed_reports(seeded, tmp_path / "reports")
    login(client, seeded.keys["read"])
    page = client.get("/dmarc")
    assert page.status_code == 200
    html = page.text
    assert 'href="/dmarc" aria-current="page"' in html  # linked from the header nav
    figures = html[html.index('id="dmarc-figures"') :]
    assert "<strong>1</strong> aggregate report(s)" in figures and "<strong>40</strong> message(s)" in figures
    assert "75.0 %" in html  # 30 of 40
    chart = re.findall(r'<rect [^>]*class="f-(ok|error|unknown)"', html)
    assert chart.count("error") == 1 and len(chart) == 30  # one day with reports, below the 90 % threshold
    sources = html[html.index("dmarc-sources") :]
    row = sources[sources.index("198.51.100.5") : sources.index("</tr>", sources.index("198.51.100.5"))]
    assert "unknown" in row and ">10<" in row
    assert "127.0.0.10" not in sources[: sources.index("</table>")]  # ours, and it passed: not failing
    tls = html[html.index("TLS-RPT failures") :]
    assert "certificate-expired" in tls and ">2<" in tls

    week = client.get("/dmarc", params={"period": "7d"}).text
    assert len(re.findall(r'<rect [^>]*class="f-', week)) == 7
    assert client.get("/dmarc", params={"period": "1y"}).status_code == 422


def test_a_hostile_org_name_is_shown_escaped(client: TestClient, seeded: Seeded, tmp_path: Path) -> None:
    seed_reports(seeded, tmp_path / "reports")
    login(client, seeded.keys["read"])
    html = client.get("/dmarc").text
    assert SCRIPT not in html
    assert str(escape(HOSTILE_ORG)) in html


def test_the_domain_page_has_a_dmarc_section(client: TestClient, seeded: Seeded, tmp_path: Path) -> None:
    login(client, seeded.keys["read"])
    before = client.get("/domains/acme-outreach.test").text
    assert "No DMARC or TLS report for this domain" in before
    seed_reports(seeded, tmp_path / "reports")
    html = client.get("/domains/acme-outreach.test").text
    section = html[html.index('id="dmarc"') : html.index("<h2>Mailboxes</h2>")]
    assert "75.0 %" in section and "198.51.100.5" in section
    assert "certificate-expired" not in section  # the TLS report is acme-mail.test's
    other = client.get("/domains/acme-mail.test").text
    mail = other[other.index('id="dmarc"') : other.index("<h2>Mailboxes</h2>")]
    assert "certificate-expired" in mail and "198.51.100.5" not in mail


def test_the_dmarc_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/dmarc")
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_reports_of_a_domain_outside_the_desired_state_are_shown_unmanaged(
    client: TestClient, seeded: Seeded, tmp_path: Path
) -> None:
    folder = tmp_path / "foreign"
    folder.mkdir()
    (folder / "f.xml").write_bytes(aggregate([Row("192.0.2.77", 5)], domain="elsewhere.example", dates=days_ago(1)))

    async def go() -> None:
        app = App(seeded.settings)
        try:
            summary = await ingest_paths(app, [folder], IngestOptions(resolve=False))
            assert [(i.status, i.managed) for i in summary.items] == [("ingested", False)]
        finally:
            await app.close()

    asyncio.run(go())
    login(client, seeded.keys["read"])
    html = client.get("/dmarc").text
    assert "elsewhere.example" in html and ">unmanaged</span>" in html
    assert 'href="/domains/elsewhere.example"' not in html  # no domain page to link to

"""The domain page: records from three labelled sources, findings grouped by id with counts, the check
history as a server-side SVG chart (dates, lanes, states); hostile values escaped; an unreadable source
says so in its column."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.core.inventory import Inventory
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.records import LiveDrift, desired_records
from tests.dashboard.conftest import SCRIPT, Seeded, login
from tests.services.conftest import QUICKSTART

DOMAIN = "acme-outreach.test"
NOW = datetime.now(UTC).replace(microsecond=0)


Rows = list[tuple[str, str, str, dict[str, Any], str]]


async def store_at(settings: Any, when: datetime, rows: Rows) -> None:
    """Store check results as if monitoring ran at `when` (the repository's clock, set for the call)."""
    app = App(settings)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("email_infrastructure.storage.repositories.utcnow", lambda: when)
            await record_results(app, rows)
    finally:
        await app.close()


def record_at(settings: Any, when: datetime, rows: Rows) -> None:
    """`store_at` from a test that runs no event loop."""
    asyncio.run(store_at(settings, when, rows))


def missing(name: str, rtype: str) -> dict[str, Any]:
    """A `drift.missing` finding as monitoring/checks/drift.py writes it."""
    return {"id": "drift.missing", "severity": "error", "message": f"{name} {rtype} is not published"}


def section(html: str, name: str) -> str:
    """One `<section id=name>` of the page."""
    found = re.search(rf'<section class="card" id="{name}">(.*?)</section>', html, re.S)
    assert found, name
    return found[1]


def test_each_record_column_names_its_source_and_when_it_was_read(client: TestClient, seeded: Seeded) -> None:
    login(client, seeded.keys["read"])
    records = section(client.get("/domains/acme-mail.test").text, "records")
    heads = re.findall(
        r'<th scope="col" class="source" data-source="\d">\s*([^<]+?)\s*<span class="where">([^<]+)</span>', records
    )
    assert [h for h, _ in heads] == ["Desired", "At the provider", "DNS answer"]
    assert "stored desired state" in heads[0][1] and ", read 20" in heads[0][1]
    assert "API, as the plan reads it" in heads[1][1]
    assert "drift check" in heads[2][1] and ", read 20" in heads[2][1]
    assert "not read:" not in records
    assert 'href="/lookup?q=acme-mail.test" id="lookup-domain"' in records  # the live DNS, audited now
    # the seeded drift check saw a different _dmarc value: that cell differs, shown escaped; the rest matched
    dmarc = re.search(
        r'<tr class="r-[a-z-]+" data-dns="different">\s*<td class="mono">_dmarc.acme-mail.test</td>(.*?)</tr>',
        records,
        re.S,
    )
    assert dmarc, records
    assert 'class="mono dns differs"' in dmarc[1] and "&lt;script&gt;alert(&#34;xss&#34;)&lt;/script&gt;" in dmarc[1]
    assert records.count('data-dns="as-desired"') >= 3 and "same as desired" in records
    assert SCRIPT not in client.get("/domains/acme-mail.test").text


def test_an_unreadable_source_says_so_in_its_column(
    client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(app: App, name: str, *, inventory: Inventory | None = None) -> LiveDrift:
        return LiveDrift([], f"the provider refused the token {SCRIPT}")

    async def never_checked(app: App, subjects: list[str], history: int = 30) -> list[Any]:
        return []

    monkeypatch.setattr("email_infrastructure.services.records.live_drift", refused)
    monkeypatch.setattr("email_infrastructure.services.domain_detail.domain_checks", never_checked)
    login(client, seeded.keys["read"])
    page = client.get("/domains/acme-mail.test")
    assert page.status_code == 200  # a source that cannot be read is not a page error
    records = section(page.text, "records")
    assert "not read: the provider refused the token &lt;script&gt;" in records
    assert "not read: no drift check has run for this domain yet" in records
    assert 'class="badge state-not-read"' in records and 'data-dns="not-checked"' in records
    assert SCRIPT not in page.text


def test_findings_are_grouped_by_id_with_their_count(client: TestClient, seeded: Seeded) -> None:
    """70 missing records are one collapsed `drift.missing x 70`, not 70 boxes."""

    async def desired() -> list[Any]:
        app = App(seeded.settings)
        try:
            return list((await desired_records(app, DOMAIN)).records)
        finally:
            await app.close()

    real = [missing(r.name, r.type) for r in asyncio.run(desired())]
    made_up = [missing(f"h{n}.{DOMAIN}", "A") for n in range(70 - len(real))]
    changed = {"id": "drift.changed", "severity": "error", "message": f"x.{DOMAIN} TXT differs: {SCRIPT}"}
    result = {"status": "error", "findings": [*real, *made_up, changed]}
    record_at(seeded.settings, NOW, [(DOMAIN, "drift", "error", result, "71 records")])
    login(client, seeded.keys["read"])
    html = client.get(f"/domains/{DOMAIN}").text
    findings = section(html, "findings")
    groups = re.findall(
        r'<details class="group finding s-(\w+)" data-finding="([^"]+)" data-count="(\d+)"( open)?>', findings
    )
    assert groups == [("error", "drift.missing", "70", ""), ("error", "drift.changed", "1", " open")]
    assert "× 70" in findings and findings.count("is not published") == 70
    assert findings.count("How to fix:") == 2  # once per group, not once per finding
    assert SCRIPT not in html and "&lt;script&gt;" in findings
    records = section(html, "records")
    assert records.count('data-dns="not-published"') == len(real)


def test_the_history_is_a_chart_of_state_bands_over_dates(client: TestClient, seeded: Seeded) -> None:
    ok = {"status": "ok", "findings": []}
    bad = {"status": "error", "findings": [{"id": "spf.missing", "severity": "error", "message": "no SPF"}]}
    days = [NOW - timedelta(days=d) for d in (20, 19, 12, 11, 5)]
    for when, status, result in zip(days, ("ok", "ok", "error", "error", "ok"), (ok, ok, bad, bad, ok), strict=True):
        record_at(seeded.settings, when, [(DOMAIN, "spf", status, result, status)])
    login(client, seeded.keys["read"])
    history = section(client.get(f"/domains/{DOMAIN}").text, "history")
    svg = re.search(r'<svg class="chart" role="img" aria-label="([^"]+)"(.*?)</svg>', history, re.S)
    assert svg, history
    label, body = svg[1], svg[2]
    lanes = re.findall(r'<g class="lane" data-check="(\w+)" data-subject="([^"]+)">', body)
    assert (("spf", DOMAIN) in lanes) and (("drift", DOMAIN) in lanes)
    spf = re.search(r'data-check="spf" data-subject="acme-outreach.test">(.*?)</g>', body, re.S)
    assert spf
    # the repeated states are one band each: ok, then error, then ok again until now
    assert re.findall(r'data-status="(\w+)"', spf[1]) == ["ok", "error", "ok"]
    stamp = days[2].strftime("%Y-%m-%d %H:%M UTC")
    assert f"spf: error from {stamp} to {days[4].strftime('%Y-%m-%d %H:%M UTC')}" in spf[1]  # the tooltip
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', body)
    assert len(ticks) >= 3 and all(re.fullmatch(r"[A-Z][a-z]{2} \d{2}", t) for t in ticks), ticks
    assert days[0].strftime("%b %d") in ticks or (days[0] + timedelta(days=1)).strftime("%b %d") in ticks
    assert f"spf: ok since {days[4].strftime('%Y-%m-%d %H:%M UTC')}" in label  # the text alternative
    assert 'class="legend"' in history and 'data-check="spf"' in history  # legend and the states table


def test_a_domain_never_checked_says_so(client: TestClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    async def none(app: App, subjects: list[str], history: int = 30) -> list[Any]:
        return []

    monkeypatch.setattr("email_infrastructure.services.domain_detail.domain_checks", none)
    monkeypatch.setattr("email_infrastructure.services.domain_detail.check_timeline", _empty_timeline)
    login(client, seeded.keys["read"])
    html = client.get(f"/domains/{DOMAIN}").text
    assert "No check has run for this domain yet." in section(html, "history")
    assert "Not checked yet." in section(html, "findings")
    assert "<svg" not in section(html, "history")


async def _empty_timeline(app: App, subjects: list[str], **_: Any) -> Any:
    from email_infrastructure.services.check_timeline import Timeline

    return Timeline(NOW - timedelta(days=30), NOW)


def test_the_chart_shows_only_this_workspaces_results(client: TestClient, seeded: Seeded) -> None:
    """Another workspace's results for a subject of the same name stay out of the chart's lanes."""
    from email_infrastructure.services import workspaces
    from email_infrastructure.services.scope import acting_in

    async def elsewhere() -> None:
        app = App(seeded.settings)
        try:
            await workspaces.create(app, "chart-elsewhere")
        finally:
            await app.close()
        with acting_in("chart-elsewhere"):
            await store_at(seeded.settings, NOW, [(DOMAIN, "bimi", "error", {"status": "error", "findings": []}, "x")])

    asyncio.run(elsewhere())
    login(client, seeded.keys["read"])
    history = section(client.get(f"/domains/{DOMAIN}").text, "history")
    assert 'data-check="spf"' in history and 'data-check="bimi"' not in history


def test_a_group_names_its_subject_once_when_every_finding_shares_it() -> None:
    from email_infrastructure.services.domain_detail import group_findings

    same = [{"id": "spf.x", "severity": "warning", "subject": "a.test", "check": "spf", "message": m} for m in "ab"]
    other = {"id": "spf.x", "severity": "error", "subject": "b.test", "check": "spf", "message": "c"}
    lone = {"id": "dkim.y", "severity": "warning", "subject": "a.test", "check": "dkim", "message": "d"}
    groups = group_findings([*same, lone])
    assert [(g.id, g.where, len(g.items)) for g in groups] == [
        ("spf.x", "a.test · spf", 2),
        ("dkim.y", "a.test · dkim", 1),
    ]
    mixed = group_findings([*same, other, lone])
    assert [(g.id, g.severity, g.where) for g in mixed] == [
        ("spf.x", "error", ""),
        ("dkim.y", "warning", "a.test · dkim"),
    ]


def test_the_forwarding_section_lists_forwards_and_the_catch_all_escaped(
    client: TestClient, seeded: Seeded, write_inventory: Any
) -> None:
    text = QUICKSTART.replace(
        "      - {first_name: Bob, last_name: Stone}\n",
        "      - {first_name: Bob, last_name: Stone}\n"
        "    forwarding: {catch_all: [ops@agency.test, desk@agency.test], addresses: {sales: crm@agency.test}}\n",
    )
    asyncio.run(_import(seeded.settings, write_inventory(text)))
    login(client, seeded.keys["read"])
    shown = section(client.get(f"/domains/{DOMAIN}").text, "forwarding")
    assert f'<span class="mono">sales@{DOMAIN}</span> → <span class="mono">crm@agency.test</span>' in shown
    assert (
        f'Catch-all <span class="mono">@{DOMAIN}</span> → <span class="mono">ops@agency.test, desk@agency.test' in shown
    )
    assert "No forwarding" in section(client.get("/domains/acme-mail.test").text, "forwarding")


async def _import(settings: Any, loaded: Any) -> None:
    app = App(settings)
    try:
        await import_inventory(app, loaded)
    finally:
        await app.close()

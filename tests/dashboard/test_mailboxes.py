"""The mailbox pages (issue 24 item 3): the fleet-wide list with its filters and pages, one mailbox's
page with its checks, findings and history; workspaces kept apart; nothing of the vault ever shown."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from email_infrastructure.core.secret_names import password_key
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import record_results
from tests.dashboard.conftest import SCRIPT, Seeded, finding, login
from tests.dashboard.test_workspaces import DOMAINS, NORTH, SOUTH, Workspaces, spaces

__all__ = ["spaces"]  # the workspaces fixture, seeded as the workspace tests seed it

#: the quickstart's listed mailboxes, by address
ANN, BOB, CARA = "ann.lee@acme-outreach.test", "bob.stone@acme-outreach.test", "cara.diaz@acme-mail.test"
#: a mailbox password as the vault holds it: it must never reach a page
PASSWORD = "Vault-Pa55word-never-shown"


def rows_on(html: str) -> list[str]:
    """The list's rows, by address."""
    return re.findall(r'<tr data-mailbox="([^"]+)"', html)


@pytest.fixture
def checked(seeded: Seeded) -> Seeded:
    """Cara's login check failed (its finding carries a script), Ann's passed, Bob never checked;
    every mailbox has its password in the vault."""

    async def seed() -> None:
        app = App(seeded.settings)
        try:
            refused = f"{CARA}: SMTP refused the login: 535 {SCRIPT}"
            failed = {
                "status": "error",
                "findings": [{"id": "mailbox.login_failed", "severity": "error", "message": refused, "evidence": []}],
            }
            await record_results(
                app,
                [
                    (ANN, "mailbox", "ok", finding("mailbox", "ok", ""), "ok"),
                    (CARA, "mailbox", "ok", finding("mailbox", "ok", ""), "ok"),
                ],
            )
            await record_results(app, [(CARA, "mailbox", "error", failed, refused)])
            async with app.uow() as uow:
                for address in (ANN, BOB, CARA):
                    await uow.secrets().put(*password_key(address), PASSWORD)
                await uow.commit()
        finally:
            await app.close()

    asyncio.run(seed())
    return seeded


def test_the_list_shows_every_mailbox_with_its_domain_server_and_login_status(
    client: TestClient, checked: Seeded
) -> None:
    login(client, checked.keys["read"])  # read scope is enough
    html = client.get("/mailboxes").text
    assert rows_on(html) == [CARA, ANN, BOB]  # by domain, then local part
    assert f'<tr data-mailbox="{CARA}" data-status="error">' in html
    assert f'<tr data-mailbox="{ANN}" data-status="ok">' in html
    assert f'<tr data-mailbox="{BOB}" data-status="none">' in html
    assert 'href="/domains/acme-mail.test"' in html and 'href="/mailboxes?server=mx1"' in html
    assert "not stored" in html  # send-tests are not stored: the page says so
    assert "3 matching · page 1 of 1" in html
    assert 'href="/mailboxes" aria-current="page"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=error", [CARA]),
        ("?status=ok", [ANN]),
        ("?status=none", [BOB]),
        ("?domain=acme-outreach.test", [ANN, BOB]),
        ("?server=mx1&status=ok", [ANN]),
        ("?server=elsewhere", []),
        ("?q=stone", [BOB]),
        ("?q=%25", []),  # a LIKE wildcard is a character like any other
    ],
)
def test_filters_narrow_the_list(client: TestClient, checked: Seeded, query: str, expected: list[str]) -> None:
    login(client, checked.keys["read"])
    assert rows_on(client.get("/mailboxes" + query).text) == expected


def test_an_unknown_status_is_a_clear_error(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["read"])
    response = client.get("/mailboxes?status=purple")
    assert response.status_code == 400 and "unknown status" in response.text


def test_htmx_gets_the_table_alone(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["read"])
    html = client.get("/mailboxes?status=error", headers={"HX-Request": "true", "HX-Target": "mailboxes"}).text
    assert html.lstrip().startswith('<div id="mailboxes">') and rows_on(html) == [CARA]


def test_the_mailbox_page_shows_its_checks_findings_and_history(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["read"])
    html = client.get(f"/mailboxes/{CARA}").text
    assert 'href="/domains/acme-mail.test"' in html and "mail.acme-outreach.test" in html
    assert "<code>mailbox.login_failed</code>" in html
    assert html.count('class="f-ok"') == 1 and html.count('class="f-error"') == 1  # the history, oldest left
    assert "last send-test: not stored" in html
    assert "Not checked yet." in client.get(f"/mailboxes/{BOB}").text


def test_stored_values_come_out_escaped(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["read"])
    for path in ("/mailboxes", f"/mailboxes/{CARA}"):
        html = client.get(path).text
        assert SCRIPT not in html, path
        assert "&lt;script&gt;" in html, path


def test_no_page_ever_shows_a_mailbox_password(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["write"])
    paths = ["/mailboxes", "/mailboxes?status=error", *(f"/mailboxes/{a}" for a in (ANN, BOB, CARA))]
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, path
        assert PASSWORD not in response.text, path


def test_an_unknown_mailbox_is_a_404(client: TestClient, checked: Seeded) -> None:
    login(client, checked.keys["read"])
    for address in ("nobody@acme-mail.test", "not-an-address", "ann.lee@elsewhere.test"):
        assert client.get(f"/mailboxes/{address}").status_code == 404, address


@pytest.mark.parametrize(("ws", "key", "other"), [(NORTH, "north", SOUTH), (SOUTH, "south", NORTH)])
def test_a_workspace_key_sees_only_its_own_mailboxes(
    client: TestClient, spaces: Workspaces, ws: str, key: str, other: str
) -> None:
    login(client, spaces.keys[key])
    own = DOMAINS[ws]
    for base in ("", f"/workspaces/{ws}"):
        html = client.get(f"{base}/mailboxes").text
        assert {a.split("@")[1] for a in rows_on(html)} == set(own), base
        assert not any(d in html for w, ds in DOMAINS.items() if w != ws for d in ds), base
        assert client.get(f"{base}/mailboxes/ann.lee@{own[0]}").status_code == 200, base
    # another workspace's mailbox does not exist for this key, nor does another workspace
    assert client.get(f"/mailboxes/ann.lee@{DOMAINS[other][0]}").status_code == 404
    assert client.get(f"/mailboxes/{ANN}").status_code == 404
    assert client.get(f"/workspaces/{other}/mailboxes").status_code == 404


def _sequencer_rows() -> list[Any]:
    """The `sequencer` family's rows as the monitor stores them: Ann ok at `inst` and missing at `sl`, Bob
    disconnected at `inst` (the platform's words carry a script), Cara on no sequencer."""
    from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
    from email_infrastructure.monitoring.monitor import rows
    from email_infrastructure.reconcile.sequencer_wanted import Wanted
    from email_infrastructure.sequencers.provider import AccountHealth, AccountSettings
    from email_infrastructure.services.sequencer_accounts import SequencerRead
    from email_infrastructure.services.sequencer_health import CHECK, results

    def wanted(address: str, sequencer: str) -> Wanted:
        return Wanted(address, address.split("@")[1], sequencer, AccountSettings())

    down = AccountHealth("error", f"connection error: 535 {SCRIPT}", connected=False)
    reads = [
        SequencerRead(
            "inst",
            "instantly",
            [wanted(ANN, "inst"), wanted(BOB, "inst")],
            held={ANN: AccountHealth("ok", connected=True, sent_today=3), BOB: down},
        ),
        SequencerRead("sl", "smartlead", [wanted(ANN, "sl")], held={}),
    ]
    report = AuditReport([SubjectReport(a, {CHECK: r}) for a, r in results(reads).items()], [])
    return rows(report, {CHECK})


def test_the_list_shows_each_sequencers_stored_reading(client: TestClient, checked: Seeded) -> None:
    async def seed() -> None:
        app = App(checked.settings)
        try:
            await record_results(app, _sequencer_rows())
        finally:
            await app.close()

    asyncio.run(seed())
    login(client, checked.keys["read"])
    html = client.get("/mailboxes").text
    assert "<th>Sequencers</th>" in html
    cells = dict(re.findall(r'<tr data-mailbox="([^"]+)".*?<td class="sequencers">(.*?)</td>', html, re.S))
    assert re.findall(r'data-sequencer="(\w+)"[^>]*>([^<]+)<', cells[ANN]) == [
        ("inst", "inst: ok"),
        ("sl", "sl: missing"),
    ]
    assert 'class="badge s-warning" data-sequencer="sl"' in cells[ANN]  # missing reads as a warning
    assert 'class="badge s-error" data-sequencer="inst"' in cells[BOB] and "&lt;script&gt;" in cells[BOB]
    assert "none" in cells[CARA] and "data-sequencer" not in cells[CARA]
    assert SCRIPT not in html
    # a mailbox's page lists the family's findings like any check's, with their fix
    page = client.get(f"/mailboxes/{BOB}").text
    assert "<code>sequencer.disconnected</code>" in page and "reconnect the account" in page and SCRIPT not in page

"""The overview's read model (services/overview.py, overview_groups.py): filters, sorting, paging and grouped
findings in SQL over `domain_status`, whose rows always equal what the check states say (storage/overview_rows.py)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.core.errors import UserError
from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from email_infrastructure.services.overview import OverviewQuery, matching_names, overview, overview_rows
from email_infrastructure.services.overview_groups import finding_groups
from email_infrastructure.services.scope import acting_in
from email_infrastructure.storage.models import CheckState, Domain, DomainStatus, Mailbox, Server
from email_infrastructure.storage.overview_rows import COLUMN_CHECKS, RANK
from tests.services.conftest import QUICKSTART, WriteInventory

#: the quickstart with a second server (another DNS provider's domain on it) and a domain with `_` in its name
FLEET = (
    QUICKSTART.replace(
        "    ipv4: 127.0.0.10\n",
        "    ipv4: 127.0.0.10\n  - name: mx2\n    hostname: mail.second.test\n    ipv4: 127.0.0.11\n",
    )
    .replace(
        "      nameservers: [ns1.quickstart.test., ns2.quickstart.test.]\n",
        "      nameservers: [ns1.quickstart.test., ns2.quickstart.test.]\n"
        "    other:\n      type: zonefile\n      directory: zones2\n"
        "      nameservers: [ns1.quickstart.test., ns2.quickstart.test.]\n",
    )
    .replace(
        "domains:\n",
        "domains:\n  - name: second.test\n    server: mx2\n    dns_provider: other\n    mailboxes:\n"
        "      - {first_name: Dee, last_name: Ray}\n  - name: x-y.test\n",
    )
)


def result(check: str, status: str, *ids: str) -> dict[str, Any]:
    """A stored result with one finding per id."""
    return {"status": status, "findings": [{"id": i, "severity": status, "message": i} for i in ids]}


@pytest.fixture
async def fleet(app: App, write_inventory: WriteInventory) -> App:
    """Four domains on two servers: mx1's IP blocklisted on two lists, acme-mail drifting, a mailbox failing."""
    await import_inventory(app, write_inventory(FLEET))
    await record_results(
        app,
        [
            ("127.0.0.10", "dnsbl", "error", result("dnsbl", "error", "dnsbl.listed", "dnsbl.listed"), "2 lists"),
            ("127.0.0.11", "dnsbl", "ok", result("dnsbl", "ok"), "ok"),
            ("acme-mail.test", "drift", "error", result("drift", "error", "drift.changed"), "drift"),
            ("acme-outreach.test", "spf", "warning", result("spf", "warning", "spf.soft"), "soft"),
            ("second.test", "spf", "ok", result("spf", "ok"), "ok"),
            ("dee.ray@second.test", "mailbox", "error", result("mailbox", "error", "mailbox.login_failed"), "no"),
        ],
    )
    return app


async def reference(app: App) -> dict[str, tuple[Any, ...]]:
    """Each domain's row computed in Python from the tables, as the overview did before `domain_status`."""
    async with app.uow() as uow:
        s = uow.session
        query = select(Domain.id, Domain.name, Server.ipv4, Domain.server_id, Domain.dns_provider).outerjoin(Server)
        domains = (await s.execute(query)).all()
        boxes = (await s.execute(select(Mailbox.domain_id, Mailbox.local_part))).all()
        states = (await s.execute(select(CheckState.subject, CheckState.check, CheckState.status))).all()
        stored = {
            r.name: tuple(getattr(r, c) for c in [*COLUMN_CHECKS, "status", "server_id", "dns_provider"])
            for r in (await s.scalars(select(DomainStatus))).all()
        }
    by_subject: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for subject, check, status in states:
        by_subject[subject].append((check, status))
    locals_of: dict[int, list[str]] = defaultdict(list)
    for domain_id, local in boxes:
        locals_of[domain_id].append(local)
    expected = {}
    for domain_id, name, ip, server_id, provider in domains:
        subjects = [name, *([ip] if ip else []), *(f"{local}@{name}" for local in locals_of[domain_id])]
        found = [pair for subject in subjects for pair in by_subject.get(subject, [])]
        cells = [max((RANK[st] for c, st in found if c in checks), default=0) for checks in COLUMN_CHECKS.values()]
        expected[name] = (*cells, max(cells), server_id, provider)
    assert stored == expected
    return stored


async def test_a_row_is_the_worst_state_of_the_domain_its_server_ip_and_mailboxes(fleet: App) -> None:
    view = await overview(fleet)
    rows = {r.name: r for r in view.rows}
    assert rows["second.test"].cells["Mailboxes"] == "error" and rows["second.test"].status == "error"
    assert rows["second.test"].cells["Blocklists"] == "ok" and rows["second.test"].server == "mx2"
    assert rows["x-y.test"].cells["Blocklists"] == "error"  # mx1's IP counts for every domain on it
    assert rows["acme-outreach.test"].cells["SPF"] == "warning" and rows["acme-outreach.test"].cells["TLS"] == "none"
    assert view.totals == {"error": 4, "unknown": 0, "warning": 0, "ok": 0, "none": 0} and view.domains == 4
    assert view.servers == ["mx1", "mx2"] and view.providers == ["local", "other"]
    await reference(fleet)


async def test_filters_sorting_and_pages_are_sql(fleet: App) -> None:
    async def names(**given: Any) -> list[str]:
        return [r.name for r in (await overview(fleet, OverviewQuery(**given))).rows]

    everything = ["acme-mail.test", "acme-outreach.test", "second.test", "x-y.test"]
    assert await names() == everything  # worst first (all error), then by name
    assert await names(sort="name", descending=True) == everything[::-1]
    assert await names(server="mx2") == ["second.test"]
    assert await names(provider="local") == ["acme-mail.test", "acme-outreach.test", "x-y.test"]
    assert await names(check="drift", check_status="error") == ["acme-mail.test"]
    assert await names(check="spf", check_status="none") == ["acme-mail.test", "x-y.test"]
    assert await names(sort="spf", descending=True) == [
        "acme-outreach.test",
        "second.test",
        "acme-mail.test",
        "x-y.test",
    ]
    assert (await names(sort="server", descending=True))[:1] == ["second.test"]
    assert await names(search="_") == []  # a LIKE wildcard is a character to find
    assert await names(search="X-Y") == ["x-y.test"]
    page = await overview(fleet, OverviewQuery(sort="name", descending=False), limit=2, offset=2)
    assert [r.name for r in page.rows] == ["second.test", "x-y.test"] and page.matching == 4
    filtered = await overview(fleet, OverviewQuery(server="mx1"))
    assert filtered.matching == 3 and filtered.domains == 4  # the chips count the whole workspace
    assert await matching_names(fleet, OverviewQuery(server="mx1", sort="name", descending=False), 2) == (
        ["acme-mail.test", "acme-outreach.test"],
        3,
    )
    assert [r.name async for r in overview_rows(fleet, OverviewQuery(check="mailbox", check_status="error"))] == [
        "second.test"
    ]


@pytest.mark.parametrize(
    "bad",
    [{"status": "purple"}, {"check": "nope", "check_status": "error"}, {"check": "spf"}, {"sort": "secret"}],
)
def test_a_bad_query_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(UserError):
        OverviewQuery(**bad)


async def test_the_stored_row_always_equals_what_the_check_states_say(
    fleet: App, write_inventory: WriteInventory
) -> None:
    # a recovery of the server's IP reaches every domain on it; a check that ran without changing nothing
    await record_results(fleet, [("127.0.0.10", "dnsbl", "ok", result("dnsbl", "ok"), "ok")])
    rows = await reference(fleet)
    assert rows["x-y.test"][4] == RANK["ok"]
    # a mailbox removed (its failing state stays stored but is no longer the domain's), a domain moved to mx1
    moved = (
        FLEET.replace("    mailboxes:\n      - {first_name: Dee, last_name: Ray}\n", "")
        .replace("    server: mx2\n", "    server: mx1\n")
        .replace("    dns_provider: other\n", "")
    )
    await import_inventory(fleet, write_inventory(moved))
    rows = await reference(fleet)
    assert rows["second.test"][6] == 0 and rows["second.test"][4] == RANK["ok"] and rows["second.test"][-1] == "local"
    # mx1 gets another address, whose state is an error; then the domain and the server go
    readdressed = moved.replace("127.0.0.10", "127.0.0.12")
    await record_results(fleet, [("127.0.0.12", "dnsbl", "error", result("dnsbl", "error", "dnsbl.listed"), "l")])
    await import_inventory(fleet, write_inventory(readdressed))
    assert (await reference(fleet))["acme-mail.test"][4] == RANK["error"]
    await import_inventory(fleet, write_inventory(readdressed.replace("  - name: x-y.test\n", "")))
    assert "x-y.test" not in await reference(fleet)


async def test_findings_are_grouped_by_cause_with_the_domains_they_touch(fleet: App) -> None:
    groups = await finding_groups(fleet)
    server = next(g for g in groups if g.server is not None)
    assert (server.check, server.subject, server.server, server.status) == ("dnsbl", "127.0.0.10", "mx1", "error")
    assert server.domains == 3 and server.findings == [("dnsbl.listed", 2)] and server.column == "dnsbl"
    others = {(g.check, g.status): g.domains for g in groups if g.server is None}
    assert others == {("drift", "error"): 1, ("mailbox", "error"): 1, ("spf", "warning"): 1}
    assert [g.status for g in groups] == sorted((g.status for g in groups), key=["error", "warning"].index)


async def test_a_workspace_sees_only_its_own_rows(fleet: App, write_inventory: WriteInventory) -> None:
    await workspaces.create(fleet, "south")
    with acting_in("south"):
        await import_inventory(fleet, write_inventory(QUICKSTART.replace("acme-", "south-"), name="south.yaml"))
        await record_results(fleet, [("127.0.0.10", "dnsbl", "ok", result("dnsbl", "ok"), "ok")])
        south = await overview(fleet)
        assert [r.name for r in south.rows] == ["south-mail.test", "south-outreach.test"]
        assert south.totals["ok"] == 2 and south.totals["error"] == 0
        assert await finding_groups(fleet) == []
        assert await matching_names(fleet, OverviewQuery(), 10) == (["south-mail.test", "south-outreach.test"], 2)
    # the default workspace's mx1 is still blocklisted: the other workspace's state of the same IP is its own
    assert {r.name for r in (await overview(fleet, OverviewQuery(check="dnsbl", check_status="error"))).rows} == {
        "acme-mail.test",
        "acme-outreach.test",
        "x-y.test",
    }

"""A domain's page reads that domain, never the fleet: its live drift plans the domain's own desired
state, and its DMARC section reads only the desired domains a report could belong to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from email_infrastructure.services.domain_detail import domain_detail
from email_infrastructure.services.records import desired_records
from email_infrastructure.storage.db import Database
from email_infrastructure.storage.repositories import DesiredRows, DesiredState
from tests.dmarc.reports import Row, aggregate
from tests.services.conftest import QUICKSTART, WriteInventory


async def test_the_domain_page_never_loads_every_desired_domain(
    settings: Settings,
    database: Database,
    write_inventory: WriteInventory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app = App(settings.model_copy(update={"database_url": database.url}))
    try:
        await import_inventory(app, write_inventory())
        reports = tmp_path / "reports"
        reports.mkdir()
        rows = [Row("127.0.0.10", 30, header_from="acme-mail.test"), Row("198.51.100.5", 4, spf="fail")]
        (reports / "a.xml").write_bytes(aggregate(rows, domain="acme-mail.test"))
        assert (await ingest_paths(app, [reports], IngestOptions(resolve=False))).count("ingested") == 1

        loads: list[Sequence[str] | None] = []
        real = DesiredState.load

        async def load(self: DesiredState, only: Sequence[str] | None = None) -> DesiredRows:
            loads.append(only)
            return await real(self, only)

        monkeypatch.setattr(DesiredState, "load", load)
        detail = await domain_detail(app, "acme-mail.test")
    finally:
        await app.close()
    assert None not in loads, loads  # a load without `only` reads every domain of the workspace
    assert detail.dmarc is not None
    (totals,) = detail.dmarc.summary.domains
    assert totals.key == "acme-mail.test" and totals.managed  # still known as ours
    assert [s.key for s in detail.dmarc.summary.sources if s.ours] == ["127.0.0.10"]
    assert any(r.state == "missing" for r in detail.records)  # the live read ran (nothing applied yet)


async def test_a_receiving_domains_page_shows_the_authorisations_of_the_domains_reporting_to_it(
    settings: Settings, database: Database, write_inventory: WriteInventory
) -> None:
    """acme-mail.test (on another server and DNS provider) sends its DMARC reports to acme-outreach.test: the
    authorisation record is in acme-outreach.test's zone, on its page as in the whole desired state."""
    text = (
        QUICKSTART.replace(
            "    ipv4: 127.0.0.10\n",
            "    ipv4: 127.0.0.10\n  - {name: mx2, hostname: mail.acme-mail.test, ipv4: 127.0.0.11}\n",
        )
        .replace("  - name: acme-mail.test\n", "  - name: acme-mail.test\n    server: mx2\n    dns_provider: other\n")
        .replace("  dns:\n    local:", "  dns:\n    other: {type: zonefile, directory: zones2}\n    local:")
    )
    app = App(settings.model_copy(update={"database_url": database.url}))
    try:
        await import_inventory(app, write_inventory(text))
        whole = {(r.name, r.type) for r in (await desired_records(app, "acme-outreach.test")).records}
        detail = await domain_detail(app, "acme-outreach.test")
    finally:
        await app.close()
    assert ("acme-mail.test._report._dmarc.acme-outreach.test", "TXT") in whole
    shown = {(r.name, r.type) for r in detail.records}
    assert whole <= shown, whole - shown  # (the DKIM key, made at the first apply, is a planned row beside them)
    assert not [
        r for r in detail.records if r.name.endswith("_report._dmarc.acme-outreach.test") and r.state != "missing"
    ]

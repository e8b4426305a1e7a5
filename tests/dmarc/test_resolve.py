"""Reverse DNS of each source once per run, against the local PowerDNS (never the system resolver)."""

from __future__ import annotations

from pathlib import Path

from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import IngestOptions, ingest_paths
from email_infrastructure.services.dmarc_views import dmarc_summary
from tests.dmarc.conftest import Manage
from tests.dmarc.reports import Row, aggregate
from tests.fixtures.pdns import PowerDns
from tests.monitoring.zones import load_zones


async def test_sources_are_named_by_their_ptr_records(app: App, manage: Manage, pdns: PowerDns, tmp_path: Path) -> None:
    await manage()
    load_zones(pdns, {"113.0.203.in-addr.arpa": [
        ("10.113.0.203.in-addr.arpa", "PTR", ["mta1.sender.example."]),
        ("11.113.0.203.in-addr.arpa", "PTR", ["MTA2.Sender.Example."]),
    ]})  # fmt: skip
    path = tmp_path / "r.xml"
    rows = [Row("203.0.113.10", 5), Row("203.0.113.11", 5), Row("203.0.113.12", 5), Row("203.0.113.10", 1)]
    path.write_bytes(aggregate(rows))
    options = IngestOptions(nameservers=[f"{pdns.address}:{pdns.dns_port}"], alerts=False)
    result = await ingest_paths(app, [path], options)
    assert result.resolved == 2  # .12 has no PTR: looked up, named ""
    names = {s.key: s.reverse_dns for s in (await dmarc_summary(app)).sources}
    assert names == {"203.0.113.10": "mta1.sender.example", "203.0.113.11": "mta2.sender.example", "203.0.113.12": ""}

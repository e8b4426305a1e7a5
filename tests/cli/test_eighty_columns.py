"""At 80 columns the values people look for are whole: file names, source IPs, owners, check names."""

from __future__ import annotations

import re
from pathlib import Path

from email_infrastructure.monitoring.audit import ALL_CHECKS
from tests.conftest import Cli
from tests.dmarc.reports import Row, aggregate, gz
from tests.services.conftest import QUICKSTART

NARROW = {"COLUMNS": "80"}
IPV6 = "2001:db8:4006:80a:1234:5678:9abc:def0"


def test_keys_are_whole_at_80_columns(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "a-folder-with-a-long-name" / "inventories-of-the-outreach-team"
    folder.mkdir(parents=True)
    inventory = folder / "quickstart-inventory.yaml"
    inventory.write_text(QUICKSTART, encoding="utf-8")
    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0

    listed = cli("domain", "list", env=NARROW)
    assert listed.returncode == 0, listed.stderr
    assert f"file:{inventory.resolve()}" in listed.stdout, listed.stdout
    assert "acme-outreach.test" in listed.stdout

    reports = tmp_path / "reports"
    reports.mkdir()
    name = "google.com!acme-outreach.test!1712016000!1712102399-report-number-0001.xml.gz"
    (reports / name).write_bytes(gz(aggregate([Row("127.0.0.10", 30), Row(IPV6, 10, dkim="fail", spf="fail")])))
    ingested = cli("dmarc", "ingest", str(reports), "--no-resolve", env=NARROW)
    assert ingested.returncode == 0, ingested.stderr
    assert str(reports / name) in ingested.stdout, ingested.stdout

    summary = cli("dmarc", "summary", env=NARROW)
    assert summary.returncode == 0, summary.stderr
    table = summary.stdout.split("unknown senders")[0]  # the tables, not the line after them
    assert IPV6 in table and "127.0.0.10" in table and "receiver.example" in table, summary.stdout

    help_text = cli("audit", "--help", env=NARROW).stdout
    assert set(ALL_CHECKS) <= set(re.split(r"[\s,.()│]+", help_text)), help_text

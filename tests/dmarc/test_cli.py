"""`email-infra dmarc ingest|summary` as a user runs them."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import Cli
from tests.dmarc.reports import Row, aggregate, gz, tlsrpt
from tests.services.conftest import QUICKSTART


def test_ingest_then_summary_in_every_format(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART, encoding="utf-8")
    applied = cli("apply", "-f", str(inventory), "--yes")  # zone files only: the desired state is stored
    assert applied.returncode == 0, applied.stderr
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "a.xml.gz").write_bytes(
        gz(aggregate([Row("127.0.0.10", 30), Row("198.51.100.5", 10, dkim="fail", spf="fail")]))
    )
    (folder / "tls.json").write_bytes(tlsrpt())
    (folder / "junk.txt").write_bytes(b"not a report at all")

    first = cli("dmarc", "ingest", str(folder), "--no-resolve", "--format", "json")
    assert first.returncode == 1, first.stderr  # junk.txt was skipped
    data = json.loads(first.stdout)
    assert (data["ingested"], data["duplicate"], data["skipped"]) == (2, 0, 1)
    assert next(i["reason"] for i in data["items"] if i["status"] == "skipped").startswith("not a report")

    again = cli("dmarc", "ingest", str(folder / "a.xml.gz"), "--no-resolve")
    assert again.returncode == 0 and "0 ingested, 1 duplicate, 0 skipped" in again.stdout

    table = cli("dmarc", "summary", "--domain", "acme-outreach.test")
    assert table.returncode == 0, table.stderr
    assert "198.51.100.5" in table.stdout and "unknown senders failing DMARC: 198.51.100.5" in table.stdout
    assert "75.0%" in table.stdout  # 30 of 40 messages pass
    summary = json.loads(cli("dmarc", "summary", "--format", "json").stdout)
    assert summary["tls"]["failures_by_type"] == {"certificate-expired": 2}
    assert [s["key"] for s in summary["sources"] if s["ours"]] == ["127.0.0.10"]
    rows = list(csv.DictReader(io.StringIO(cli("dmarc", "summary", "--format", "csv").stdout)))
    assert {(r["section"], r["key"]) for r in rows} >= {("domain", "acme-outreach.test"), ("source", "198.51.100.5")}

    assert cli("dmarc", "summary", "--since", "soon").returncode == 2
    assert cli("dmarc", "ingest").returncode == 2
    assert cli("dmarc", "ingest", str(tmp_path / "missing.xml")).returncode == 2

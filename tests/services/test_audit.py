"""Audits read the stored state at most: `audit -f` leaves the data dir as it was, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import QUICKSTART


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_audit_from_a_file_writes_nothing(cli: Cli, pdns: PowerDns, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART)
    data = tmp_path / "data"
    ns = f"{pdns.address}:{pdns.dns_port}"
    audit = ("audit", "-f", str(inventory), "--nameserver", ns, "--checks", "spf,dkim,dmarc,drift", "--format", "json")

    fresh = cli(*audit)
    assert fresh.returncode in (0, 1, 3), fresh.stderr
    assert {d["domain"] for d in json.loads(fresh.stdout)["domains"]} == {"acme-outreach.test", "acme-mail.test"}
    assert not data.exists(), "an audit on a fresh data dir created it"

    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    before = snapshot(data)
    assert "email-infra.db" in before and "secret.key" in before
    again = cli(*audit)
    assert again.returncode in (0, 1, 3), again.stderr
    assert snapshot(data) == before

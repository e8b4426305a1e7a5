"""`records`, `plan` and `apply` end to end through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.cli.conftest import ROOT, Cli
from tests.conftest import service_missing

QUICKSTART = str(ROOT / "examples" / "quickstart.yaml")


def test_plan_apply_reapply_on_the_quickstart(cli: Cli, tmp_path: Path) -> None:
    plan = cli("plan", "-f", QUICKSTART, "--json", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    data = json.loads(plan.stdout)
    assert data["format_version"] == 2
    # 25 RRsets and the two DKIM keys, generated at apply (the plan generated nothing)
    assert data["summary"] == {"create": 27, "update": 0, "delete": 0}
    assert not (tmp_path / "data").exists()
    assert data["checksum"].startswith("sha256:")
    assert {z["zone"] for z in data["zones"]} == {"acme-outreach.test", "acme-mail.test"}

    applied = cli("apply", "-f", QUICKSTART, "--checksum", data["checksum"])
    assert applied.returncode == 0, applied.stderr
    assert "applied" in applied.stdout
    if shutil.which("named-checkzone") is None:
        service_missing("named-checkzone is not installed (Debian bind9-utils)")
    for zone in ("acme-outreach.test", "acme-mail.test"):
        check = subprocess.run(
            ["named-checkzone", zone, str(tmp_path / "data" / "zones" / f"{zone}.zone")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout

    again = cli("apply", "-f", QUICKSTART, "--yes", "--json")
    assert again.returncode == 0
    assert json.loads(again.stdout)["summary"] == {"create": 0, "update": 0, "delete": 0}
    assert cli("plan", "-f", QUICKSTART, "--detailed-exitcode").returncode == 0
    # the desired state is in the database now: a plan without the file agrees
    stored = cli("plan", "--detailed-exitcode", cwd=tmp_path / "data")
    assert stored.returncode == 0, stored.stdout + stored.stderr


def test_apply_with_a_stale_checksum_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("apply", "-f", QUICKSTART, "--checksum", "sha256:stale")
    assert result.returncode == 2
    assert "the plan changed" in result.stderr
    assert not (tmp_path / "data" / "zones").exists()


def test_apply_needs_yes_when_not_interactive(cli: Cli) -> None:
    result = cli("apply", "-f", QUICKSTART)
    assert result.returncode == 2
    assert "--yes" in result.stderr


def test_records_formats(cli: Cli) -> None:
    table = cli("records", "acme-mail.test", "-f", QUICKSTART)
    assert table.returncode == 0, table.stderr
    assert "_dmarc" in table.stdout
    zone = cli("records", "acme-mail.test", "-f", QUICKSTART, "--format", "zone")
    assert '_dmarc.acme-mail.test.\t3600\tIN\tTXT\t"v=DMARC1; p=none;' in zone.stdout
    data = json.loads(cli("records", "acme-mail.test", "-f", QUICKSTART, "--format", "json").stdout)
    assert {
        "name": "acme-mail.test",
        "type": "MX",
        "ttl": 3600,
        "values": ["10 mail.acme-outreach.test"],
    } in data["records"]
    missing = cli("records", "nope.test", "-f", QUICKSTART)
    assert missing.returncode == 2
    assert "not a domain of" in missing.stderr


def test_plan_of_an_invalid_inventory_is_a_user_error(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndomains: [{name: x..test}]\n")
    result = cli("plan", "-f", str(bad))
    assert result.returncode == 2
    assert "bad.yaml:2:" in result.stderr

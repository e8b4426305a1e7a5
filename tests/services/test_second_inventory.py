"""Two inventories in one database (until workspaces): neither changes the other's domains, and
`make run` (validate, plan, apply the quickstart) keeps working after another file was applied."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services.desired import OwnershipConflictError, Snapshot, from_inventory, merge
from tests.conftest import Cli
from tests.services.conftest import ROOT

QUICKSTART = ROOT / "examples" / "quickstart.yaml"

FIRST = """\
version: 1
providers:
  dns:
    a-dns: {type: zonefile, directory: zones-a, nameservers: [ns1.a.test.]}
servers:
  - {name: mx-a, hostname: mail.a1.test, ipv4: 127.0.0.20}
defaults:
  dns_provider: a-dns
  server: mx-a
  dmarc: {policy: reject, rua: ["mailto:dmarc@a1.test"]}
monitoring:
  nameservers: ["127.0.0.1:5399"]
domains:
  - name: a1.test
  - name: a2.test
"""

#: other defaults, its own DNS, and the first file's server (declared, or not: {server})
SECOND = """\
version: 1
providers:
  dns:
    b-dns: {{type: zonefile, directory: zones-b, nameservers: [ns1.b.test.]}}
{server}
defaults:
  dns_provider: b-dns
  server: mx-a
  dmarc: {{policy: quarantine}}
domains:
  - {{name: b1.test, server: mx-a}}
  - {{name: b2.test, server: mx-a}}
  - {{name: b3.test, server: mx-a}}
"""
SAME_SERVER = "servers:\n  - {name: mx-a, hostname: mail.a1.test, ipv4: 127.0.0.20}"
OTHER_SERVER = "servers:\n  - {name: mx-a, hostname: mail.a1.test, ipv4: 127.0.0.99}"


def one_line_refusal(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, result.stderr
    assert all(word in errors[0] for word in words), errors[0]


def test_a_second_file_uses_its_own_defaults_never_changes_the_first_and_make_run_still_works(
    cli: Cli, tmp_path: Path
) -> None:
    files = {
        "a.yaml": FIRST,
        "b-undeclared.yaml": SECOND.format(server=""),
        "b.yaml": SECOND.format(server=SAME_SERVER),
        "b-other-ip.yaml": SECOND.format(server=OTHER_SERVER),
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    zones = tmp_path / "data"

    def first_records() -> list[str]:
        return sorted(
            line
            for name in ("a1.test", "a2.test")
            for line in (zones / "zones-a" / f"{name}.zone").read_text().splitlines()
            if "v=spf1" in line or "v=DMARC1; p=" in line
        )

    applied = cli("apply", "-f", "a.yaml", "--yes")
    assert applied.returncode == 0, applied.stderr
    before = first_records()
    assert any("ip4:127.0.0.20" in r for r in before) and any("p=reject" in r for r in before)

    # a server stored by the first file is declared here too: one line, not one per domain
    one_line_refusal(cli("apply", "-f", "b-undeclared.yaml", "--yes"), "server 'mx-a' is not declared", "3 more")
    # declared alike, with other defaults: they apply to its own domains, the stored ones stay
    second = cli("apply", "-f", "b.yaml", "--yes")
    assert second.returncode == 0, second.stderr
    assert "note: the stored defaults stay" in second.stdout
    assert "p=quarantine" in (zones / "zones-b" / "b1.test.zone").read_text()
    # the first file's server with another address would change its domains' SPF: refused, forced or not
    for force in ((), ("--force",)):
        one_line_refusal(cli("apply", "-f", "b-other-ip.yaml", "--yes", *force), "server mx-a differs", "a.yaml")
    assert first_records() == before

    # `make run`: validate, plan, apply the quickstart (its defaults differ, it has no monitoring block)
    for step in (("validate",), ("plan",), ("apply", "--yes")):
        result = cli(*step[:1], "-f", str(QUICKSTART), *step[1:])
        assert result.returncode == 0, (step, result.stdout, result.stderr)
    assert first_records() == before
    assert cli("apply", "-f", "a.yaml", "--yes").returncode == 0, "the first file applies again, unchanged"
    assert first_records() == before


def test_monitoring_is_the_fleets_a_file_without_it_uses_the_stored_one() -> None:
    def snapshot(text: str, owner: str) -> Snapshot:
        return from_inventory(parse_inventory_text(text, owner, provider_schemas()).inventory, owner)

    stored, _ = merge(Snapshot(), snapshot(FIRST, "file:a"), "file:a")
    without = SECOND.format(server=SAME_SERVER)
    merged, result = merge(stored, snapshot(without, "file:b"), "file:b")
    assert merged.settings["monitoring"] == stored.settings["monitoring"]
    assert merged.settings["defaults"] == stored.settings["defaults"] and result.notes
    other = without + 'monitoring:\n  nameservers: ["127.0.0.1:5300"]\n'
    with pytest.raises(OwnershipConflictError, match="settings monitoring is owned by file:a"):
        merge(stored, snapshot(other, "file:b"), "file:b")
    forced, _ = merge(stored, snapshot(other, "file:b"), "file:b", force=True)
    assert forced.settings["monitoring"].value["nameservers"] == ["127.0.0.1:5300"]
    assert {n: d.value for n, d in forced.domains.items() if n.startswith("a")} == {
        n: d.value for n, d in stored.domains.items()
    }

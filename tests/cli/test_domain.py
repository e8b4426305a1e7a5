"""`email-infra domain add`: only the policy of the stored DMARC defaults changes with --dmarc-policy; sequencers and a
registrar are given by name and must be declared."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.services.conftest import QUICKSTART


def test_a_dmarc_policy_keeps_the_rest_of_the_stored_dmarc_defaults(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART, encoding="utf-8")
    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    added = cli("domain", "add", "new-brand.test", "--dmarc-policy", "reject", "--json")
    assert added.returncode == 0, added.stderr
    dmarc = json.loads(added.stdout)["spec"]["dmarc"]
    assert dmarc["policy"] == "reject"
    assert dmarc["rua"] == ["mailto:dmarc@acme-outreach.test"]  # the quickstart's stored defaults, kept


def test_sequencers_and_a_registrar_are_given_by_name_and_checked(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        QUICKSTART.replace(
            "\nservers:",
            '\n  sequencers:\n    inst: {type: instantly, token: env:INST_KEY, api_url: "http://127.0.0.1:9"}\n\nservers:',
            1,
        ),
        encoding="utf-8",
    )
    assert cli("apply", "-f", str(inventory), "--yes", env={"INST_KEY": "k"}).returncode == 0
    added = cli("domain", "add", "new-brand.test", "--sequencer", "inst", "--json")
    assert added.returncode == 0, added.stderr
    assert [u["name"] for u in json.loads(added.stdout)["spec"]["sequencers"]] == ["inst"]
    unknown = cli("domain", "add", "other-brand.test", "--sequencer", "nope")
    assert unknown.returncode == 2 and "sequencer 'nope' is not in the desired state (known: inst)" in unknown.stderr
    nowhere = cli("domain", "add", "other-brand.test", "--registrar", "pb")
    assert nowhere.returncode == 2 and "registrar 'pb' is not in the desired state (known: none)" in nowhere.stderr
    assert "other-brand.test" not in cli("domain", "list").stdout

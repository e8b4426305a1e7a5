"""`email-infra domain add --dmarc-policy`: only the policy of the stored DMARC defaults changes."""

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

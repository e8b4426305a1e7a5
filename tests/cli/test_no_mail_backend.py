"""A domain whose server has no mail backend never gets its mailboxes: validate and plan say so, and an
export with nothing to write says why and exits 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.cli.conftest import ROOT, Cli

ANN_DOMAIN = "acme-outreach.test: its server mx1 has no mail_backend: its 2 mailbox(es) will not be created without a mail backend"
CARA_DOMAIN = "acme-mail.test: its server mx1 has no mail_backend: its 1 mailbox(es) will not be created"


def test_validate_plan_and_export_say_that_mailboxes_need_a_mail_backend(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "quickstart.yaml"
    shutil.copy(ROOT / "examples" / "quickstart.yaml", inventory)

    checked = cli("validate", "-f", str(inventory))
    assert checked.returncode == 0, checked.stderr
    assert f"warning: {inventory}:" in checked.stderr and ANN_DOMAIN in checked.stderr
    assert CARA_DOMAIN in checked.stderr
    as_json = json.loads(cli("validate", "-f", str(inventory), "--json").stdout)
    assert as_json["valid"] is True and any(ANN_DOMAIN in w for w in as_json["warnings"])

    planned = cli("plan", "-f", str(inventory))
    assert planned.returncode == 0, planned.stderr
    assert f"dkim.key:acme-outreach.test: note: {ANN_DOMAIN}" in planned.stdout
    steps = json.loads(cli("plan", "-f", str(inventory), "--json").stdout)["steps"]
    notes = next(s["notes"] for s in steps if s["key"] == "dkim.key:acme-mail.test")
    assert any(CARA_DOMAIN in n for n in notes)

    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    # applied: the note stays while nothing else changes
    again = cli("plan")
    assert again.returncode == 0 and f"dkim.key:acme-outreach.test: note: {ANN_DOMAIN}" in again.stdout

    out = tmp_path / "accounts.csv"
    exported = cli("export", "--format", "generic", "-o", str(out))
    assert exported.returncode == 2, exported.stderr
    assert "warning:" not in exported.stderr  # said once, as the reason
    assert "nothing to export: no domain is on a mail backend, so no mailbox is ever created (2 domain(s) " \
        "without one: acme-mail.test, acme-outreach.test)" in exported.stderr  # fmt: skip
    assert not out.exists()  # no file of headers only, and nothing left to block the next export
    to_stdout = cli("export", "--format", "generic")
    assert to_stdout.returncode == 2 and to_stdout.stdout == ""
    named = cli("export", "--format", "generic", "--domain", "acme-mail.test")
    assert named.returncode == 2 and CARA_DOMAIN in named.stderr

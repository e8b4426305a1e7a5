"""`email-infra sequencer list|show|sync`: each sequencer's accounts of our mailboxes, read from the platform
(the Instantly fake) against the stored desired state (exit 1 when one is missing or in error), and their push."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.instantly import FakeInstantly
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.smartlead import FakeSmartlead
from tests.reconcile.test_sequencer_step import DOMAINS, PER_DOMAIN, inventory
from tests.sequencers.conftest import instantly, smartlead
from tests.services.conftest import QUICKSTART

__all__ = ["instantly", "smartlead"]  # fixtures, used here


def test_list_and_show_say_what_the_platform_holds_of_our_mailboxes(
    cli: Cli, tmp_path: Path, instantly: FakeInstantly
) -> None:
    instantly.limits = ()
    text = QUICKSTART.replace(
        "\nservers:",
        f'\n  sequencers:\n    inst: {{type: instantly, token: env:INST_KEY, api_url: "{instantly.url}"}}\n\nservers:',
        1,
    ).replace("  redirect: https://www.acme.test\n", "  redirect: https://www.acme.test\n  sequencers: [inst]\n", 1)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(text, encoding="utf-8")
    env = {"INST_KEY": instantly.token}
    imported = cli("apply", "-f", str(inventory), "--yes", env=env)
    assert imported.returncode == 0, imported.stderr
    for address in ("ann.lee", "bob.stone", "cara.diaz"):
        domain = "acme-mail.test" if address == "cara.diaz" else "acme-outreach.test"
        instantly.add_account(f"{address}@{domain}", daily_limit=30, tracking_domain_name=f"inst.{domain}")
    listed = cli("sequencer", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    (summary,) = json.loads(listed.stdout)["sequencers"]
    assert (summary["name"], summary["wanted"], summary["present"], summary["missing"]) == ("inst", 3, 3, 0)
    del instantly.accounts["cara.diaz@acme-mail.test"]
    shown = cli("sequencer", "show", "--domain", "acme-mail.test", "--format", "json", env=env)
    assert shown.returncode == 1, shown.stderr  # a wanted account is missing
    assert [(a["address"], a["state"]) for a in json.loads(shown.stdout)["accounts"]] == [
        ("cara.diaz@acme-mail.test", "missing")
    ]
    table = cli("sequencer", "show", env=env)
    assert table.returncode == 1 and "cara.diaz@acme-mail.test" in table.stdout and "missing" in table.stdout
    assert instantly.token not in listed.stdout + listed.stderr + shown.stdout + table.stdout
    unknown = cli("sequencer", "show", "--sequencer", "nope", env=env)
    assert unknown.returncode == 2 and "no sequencer 'nope'" in unknown.stderr


def test_sync_pushes_the_mailboxes_alone_and_says_so(
    cli: Cli, tmp_path: Path, instantly: FakeInstantly, mailcow: tuple[FakeMailcow, str], smartlead: FakeSmartlead
) -> None:
    instantly.limits = smartlead.limits = ()
    inventory_file = tmp_path / "inventory.yaml"
    inventory_file.write_text(inventory(mailcow[1], instantly, smartlead, domains=DOMAINS[:1]), encoding="utf-8")
    env = {"INST_KEY": instantly.token, "SL_KEY": smartlead.token, "MAILCOW_TEST_KEY": mailcow[0].rw_key}
    applied = cli("apply", "-f", str(inventory_file), "--yes", env=env)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    instantly.accounts.clear()  # removed in Instantly's UI
    planned = cli("sequencer", "sync", "--sequencer", "inst", "--dry-run", "--format", "json", env=env)
    assert planned.returncode == 0, planned.stderr
    steps = json.loads(planned.stdout)["steps"]
    assert [(s["key"], len(s["changes"])) for s in steps] == [(f"sequencer.accounts:{DOMAINS[0]}@inst", PER_DOMAIN)]
    assert instantly.accounts == {}
    synced = cli("sequencer", "sync", "--sequencer", "inst", env=env)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"sequencer.accounts:{DOMAINS[0]}@inst" in synced.stdout and "applied" in synced.stdout
    assert len(instantly.accounts) == PER_DOMAIN
    again = cli("sequencer", "sync", "--format", "json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["summary"] == {"create": 0, "update": 0, "delete": 0}
    unknown = cli("sequencer", "sync", "--sequencer", "nope", env=env)
    assert unknown.returncode == 2 and "no sequencer 'nope'" in unknown.stderr

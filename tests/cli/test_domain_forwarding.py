"""`email-infra domain add --forward … --catch-all …`: the domain's forwarding, checked like a file's."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Cli
from tests.services.conftest import QUICKSTART


def test_forwards_and_a_catch_all_are_stored_and_a_bad_one_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART, encoding="utf-8")
    assert cli("apply", "-f", str(inventory), "--yes").returncode == 0
    added = cli(
        "domain", "add", "fwd-brand.test", "--forward", "sales=a@x.test, b@y.test", "--forward", "info=c@z.test",
        "--catch-all", "ops@agency.test", "--json",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["spec"]["forwarding"] == {
        "catch_all": ["ops@agency.test"],
        "addresses": {"sales": ["a@x.test", "b@y.test"], "info": ["c@z.test"]},
    }

    clash = cli("domain", "add", "clash-brand.test", "--mailbox", "Ann Lee", "--forward", "ann.lee=x@y.test")
    assert clash.returncode != 0 and "ann.lee@clash-brand.test is a mailbox" in clash.stderr + clash.stdout
    loop = cli(
        "domain", "add", "loop-brand.test", "--forward", "a=b@loop-brand.test", "--forward", "b=a@loop-brand.test"
    )
    assert loop.returncode != 0 and "forwarding loop" in loop.stderr + loop.stdout
    bad = cli("domain", "add", "bad-brand.test", "--forward", "sales=nobody")
    assert bad.returncode != 0 and "'nobody' is not an email address" in bad.stderr + bad.stdout
    shape = cli("domain", "add", "bad-brand.test", "--forward", "sales")
    assert shape.returncode != 0 and "local=address" in shape.stderr + shape.stdout
    listed = json.loads(cli("domain", "list", "--json").stdout)["domains"]
    assert not {"clash-brand.test", "loop-brand.test", "bad-brand.test"} & {d["name"] for d in listed}

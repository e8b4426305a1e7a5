"""Sequencers in the inventory (issue 25): `providers.sequencers`, and which of them a domain's or a
mailbox's accounts go to with what sending settings; every reference checked, with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.core.inventory.loader import LoadedInventory, parse_inventory_text
from email_infrastructure.core.settings import Settings
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.sequencers.wanted import wanted_accounts
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import desired_inventory, import_inventory
from email_infrastructure.storage.db import Database

FILE = """\
version: 1
providers:
  dns:
    local: {type: zonefile}
  sequencers:
    instantly: {type: instantly, token: env:INSTANTLY_KEY}
    bison: {type: emailbison, token: env:BISON_KEY, api_url: "http://127.0.0.1:9/"}
servers:
  - {name: mx1, hostname: mail.example.test, ipv4: 127.0.0.10}
defaults:
  dns_provider: local
  server: mx1
  daily_send_limit: 25
  sequencers: [instantly]
domains:
  - name: a.test
  - name: b.test
    sequencers:
      - {name: bison, daily_limit: 40, warmup: true, warmup_per_day: 15, tags: [q4]}
    mailboxes:
      - {first_name: Ann, last_name: Lee}
      - {first_name: Bob, last_name: Stone, sequencers: []}
"""


def _load(text: str) -> LoadedInventory:
    return parse_inventory_text(text, "inv.yaml", provider_schemas())


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        _load(text)
    return info.value.problems


def test_domains_take_the_defaults_sequencers_or_their_own_and_mailboxes_can_opt_out() -> None:
    inventory = _load(FILE).inventory
    a, b = inventory.resolved_domains()
    assert [(u.name, u.daily_limit) for u in a.sequencers] == [("instantly", None)]
    assert [(u.name, u.daily_limit, u.warmup, u.warmup_per_day, u.tags) for u in b.sequencers] == [
        ("bison", 40, True, 15, ["q4"])
    ]
    assert [m.sequencers for m in b.mailboxes] == [None, []]
    assert inventory.providers.sequencers["instantly"].settings == {"token": "env:INSTANTLY_KEY"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("sequencers: [instantly]", "sequencers: [instantlyy]"), "sequencer 'instantlyy' is not declared"),
        (("- {name: bison, daily_limit", "- {name: nope, daily_limit"), "sequencer 'nope' is not declared"),
        (("sequencers: []", "sequencers: [ghost]"), "sequencer 'ghost' is not declared"),
        (("sequencers: [instantly]", "sequencers: [instantly, instantly]"), "sequencer 'instantly' is listed twice"),
        (("token: env:INSTANTLY_KEY", "token: abc123"), "providers.sequencers.instantly.token"),
        (("type: instantly", "type: instantlee"), "unknown sequencers provider type 'instantlee'"),
        ((', api_url: "http://127.0.0.1:9/"', ""), "providers.sequencers.bison.api_url"),
        (("daily_limit: 40", "daily_limit: 0"), "daily_limit"),
        (("warmup_per_day: 15", "warmup_per_day: lots"), "warmup_per_day"),
        (("tags: [q4]", "tags: [q4], colour: red"), "colour"),
    ],
)
def test_a_bad_sequencer_declaration_is_a_clear_error_with_its_line(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in FILE
    found = problems(FILE.replace(old, new, 1))
    assert any(expected in p for p in found), found
    assert all(p.startswith("inv.yaml:") for p in found)


def test_a_literal_token_is_never_echoed() -> None:
    found = problems(FILE.replace("token: env:INSTANTLY_KEY", "token: sk_live_secret_value"))
    assert found and not any("sk_live_secret_value" in p for p in found)


async def test_the_stored_desired_state_keeps_the_sequencers(
    settings: Settings, database: Database, tmp_path: Path
) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(FILE, encoding="utf-8")
    app = App(settings.model_copy(update={"database_url": database.url}))
    try:
        await import_inventory(app, load_inventory(path, provider_schemas()))
        stored = await desired_inventory(app)
    finally:
        await app.close()
    assert sorted(stored.providers.sequencers) == ["bison", "instantly"]
    assert stored.providers.sequencers["bison"].settings["api_url"] == "http://127.0.0.1:9/"
    by_name = {d.name: d for d in stored.resolved_domains()}
    assert [u.name for u in by_name["a.test"].sequencers] == ["instantly"]
    assert [(u.name, u.daily_limit, u.tags) for u in by_name["b.test"].sequencers] == [("bison", 40, ["q4"])]
    # a mailbox's own list is kept: Bob opted out of the domain's, Ann takes it
    assert {m.address_local_part: m.sequencers for m in by_name["b.test"].mailboxes} == {
        "ann.lee": None,
        "bob.stone": [],
    }
    assert [(w.address, w.sequencer) for w in wanted_accounts(stored, ["b.test"])] == [("ann.lee@b.test", "bison")]

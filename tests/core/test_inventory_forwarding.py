"""Forwarding in the inventory (issue 26 item 6): a catch-all and forwarded local parts per domain or
in defaults, every target an address, no clash with a mailbox, no loop; problems with their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.core.inventory.forwarding import forwards
from email_infrastructure.core.inventory.loader import LoadedInventory, parse_inventory_text
from email_infrastructure.core.settings import Settings
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import desired_inventory, import_inventory
from email_infrastructure.storage.db import Database

FILE = """\
version: 1
providers:
  dns:
    local: {type: zonefile}
defaults:
  dns_provider: local
  forwarding:
    catch_all: Ops@Agency.test
domains:
  - name: a.test
  - name: b.test
    mailboxes:
      - {first_name: Ann, last_name: Lee}
    forwarding:
      catch_all: [ann.lee@b.test, boss@agency.test]
      addresses:
        sales: [ann.lee@b.test, crm@agency.test, crm@agency.test]
        info: sales@b.test
  - name: c.test
    forwarding: {catch_all: null}
"""


def _load(text: str) -> LoadedInventory:
    return parse_inventory_text(text, "inv.yaml", provider_schemas())


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        _load(text)
    return info.value.problems


def test_one_address_or_a_list_lowercased_each_once_and_a_domain_block_replaces_the_defaults() -> None:
    a, b, c = _load(FILE).inventory.resolved_domains()
    assert [(f.address, f.goto) for f in forwards(a)] == [("@a.test", ("ops@agency.test",))]
    assert [(f.address, f.goto) for f in forwards(b)] == [
        ("info@b.test", ("sales@b.test",)),
        ("sales@b.test", ("ann.lee@b.test", "crm@agency.test")),
        ("@b.test", ("ann.lee@b.test", "boss@agency.test")),
    ]
    assert forwards(c) == []  # `catch_all: null` in its own block: no catch-all, whatever the defaults say


@pytest.mark.parametrize(
    ("change", "expected", "line"),
    [
        (("info: sales@b.test", "info: not-an-address"), "'not-an-address' is not an email address", 18),
        (("info: sales@b.test", "info: x@localhost"), "the part after @ is not a domain name", 18),
        (("info: sales@b.test", "Info: sales@b.test"), "a mailbox local part is lowercase letters", 18),
        (("info: sales@b.test", "ann.lee: x@agency.test"), "ann.lee@b.test is a mailbox", 18),
        (("info: sales@b.test", "info: info@b.test"), "info@b.test forwards to itself", 18),
        (("crm@agency.test, crm", "info@b.test, crm"), "forwarding loop: info@b.test → sales@b.test → info@b.test", 18),
        (("info: sales@b.test", "info: nobody@b.test"), "come back to the catch-all (a loop)", 18),
        (("catch_all: Ops@Agency.test", "catch_all: [a@x.test, 42]"), "defaults.forwarding.catch_all.1", 8),
        (
            ("sales: [ann.lee@b.test, crm@agency.test, crm@agency.test]", "sales: []"),
            "addresses.sales: Value should have at least 1 item",
            17,
        ),
    ],
)
def test_a_bad_forward_is_a_clear_error_with_its_line(change: tuple[str, str], expected: str, line: int) -> None:
    old, new = change
    assert old in FILE
    found = problems(FILE.replace(old, new, 1))
    assert any(expected in p for p in found), found
    assert any(p.startswith(f"inv.yaml:{line}:") for p in found), found


def test_a_problem_of_the_defaults_block_points_at_the_defaults() -> None:
    text = FILE.replace("catch_all: Ops@Agency.test", "addresses: {me: me@a.test}").replace(
        "    forwarding: {catch_all: null}\n", ""
    )
    found = problems(text)
    assert any(p.startswith("inv.yaml:8:") and "defaults.forwarding.addresses.me" in p for p in found), found


async def test_the_stored_desired_state_keeps_the_forwarding(
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
    by_name = {d.name: d for d in stored.resolved_domains()}
    assert by_name["a.test"].forwarding.catch_all == ["ops@agency.test"]
    assert by_name["b.test"].forwarding.addresses["sales"] == ["ann.lee@b.test", "crm@agency.test"]
    assert forwards(by_name["c.test"]) == []

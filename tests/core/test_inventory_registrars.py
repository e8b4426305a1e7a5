"""Registrars in the inventory (issue 26): `providers.registrars`, a domain's `registrar:` and `register:`,
the run's `register_budget`; references checked with positions, the desired state keeps them."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from email_infrastructure.core.errors import InventoryError
from email_infrastructure.core.inventory import load_inventory
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
  registrars:
    pb: {type: porkbun, apikey: env:PB_KEY, secretapikey: env:PB_SECRET}
    nc:
      type: namecheap
      api_user: ncuser
      api_key: env:NC_KEY
      client_ip: 127.0.0.1
      sandbox: true
defaults:
  dns_provider: local
  registrar: pb
  register_budget: 40
domains:
  - name: a.test
    register: {max_price: 12.50}
  - name: b.test
    registrar: nc
    register: {years: 2, auto_renew: false, privacy: true}
  - name: c.test
"""


def _load(text: str) -> LoadedInventory:
    return parse_inventory_text(text, "inv.yaml", provider_schemas())


def problems(text: str) -> list[str]:
    with pytest.raises(InventoryError) as info:
        _load(text)
    return info.value.problems


def test_domains_name_their_registrar_and_what_to_buy() -> None:
    inventory = _load(FILE).inventory
    a, b, c = inventory.resolved_domains()
    assert (a.registrar, a.registration is not None and a.registration.max_price) == ("pb", Decimal("12.50"))
    assert b.registrar == "nc" and b.registration is not None
    assert (b.registration.years, b.registration.auto_renew, b.registration.max_price) == (2, False, None)
    # no `register:`: registered elsewhere already, delegated and watched only
    assert (c.registrar, c.registration) == ("pb", None)
    assert inventory.defaults.register_budget == Decimal("40")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("registrar: nc", "registrar: ncc"), "registrar 'ncc' is not declared"),
        (("registrar: pb\n", "registrar: gone\n"), "registrar 'gone' is not declared"),
        (("apikey: env:PB_KEY", "apikey: pk1_literal_key"), "providers.registrars.pb.apikey"),
        (("type: namecheap", "type: godaddy"), "unknown registrars provider type 'godaddy'"),
        (("client_ip: 127.0.0.1", "client_ip: not-an-ip"), "providers.registrars.nc.client_ip"),
        (("max_price: 12.50", "max_price: -1"), "max_price"),
        (("max_price: 12.50", "max_price: 12.505"), "max_price"),
        (("years: 2", "years: 11"), "years"),
        (("register_budget: 40", "register_budget: lots"), "register_budget"),
    ],
)
def test_a_bad_registrar_declaration_is_a_clear_error_with_its_line(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in FILE
    found = problems(FILE.replace(old, new, 1))
    assert any(expected in p for p in found), found
    assert all(p.startswith("inv.yaml:") for p in found)


def test_register_without_a_registrar_is_refused() -> None:
    text = FILE.replace("  registrar: pb\n", "", 1)
    found = problems(text)
    assert any("register: needs a registrar" in p for p in found), found


def test_a_literal_key_is_never_echoed() -> None:
    found = problems(FILE.replace("api_key: env:NC_KEY", "api_key: nc_secret_value_123"))
    assert found and not any("nc_secret_value_123" in p for p in found)


async def test_the_stored_desired_state_keeps_registrars_and_purchases(
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
    assert sorted(stored.providers.registrars) == ["nc", "pb"]
    assert stored.providers.registrars["nc"].settings["client_ip"] == "127.0.0.1"
    by_name = {d.name: d for d in stored.resolved_domains()}
    a = by_name["a.test"].registration
    assert a is not None and a.max_price == Decimal("12.50")
    assert by_name["c.test"].registration is None and by_name["c.test"].registrar == "pb"
    assert stored.defaults.register_budget == Decimal("40")

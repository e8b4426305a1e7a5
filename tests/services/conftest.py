"""Inventory files for the service tests (zone files under the test's data dir: no account needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from email_infrastructure.core.inventory import LoadedInventory, load_inventory
from email_infrastructure.reconcile.registry import provider_schemas

ROOT = Path(__file__).parents[2]
QUICKSTART = (ROOT / "examples" / "quickstart.yaml").read_text()
WriteInventory = Callable[..., LoadedInventory]


def two_domains(first: str = "acme-outreach.test", second: str = "acme-mail.test") -> str:
    """The quickstart with other domain names."""
    return QUICKSTART.replace("acme-outreach.test", first).replace("acme-mail.test", second)


@pytest.fixture
def write_inventory(tmp_path: Path) -> WriteInventory:
    """`write_inventory(text, name="inventory.yaml")` → the file written and loaded."""

    def write(text: str = QUICKSTART, name: str = "inventory.yaml") -> LoadedInventory:
        path = tmp_path / "inventories" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load_inventory(path, provider_schemas())

    return write

"""Reading an inventory file with every provider's settings checked (the faces' `-f FILE`)."""

from __future__ import annotations

from pathlib import Path

from email_infrastructure.core.inventory import LoadedInventory


def load_inventory_file(path: Path) -> LoadedInventory:
    """Load and validate an inventory file, each provider block against its provider's schema."""
    from email_infrastructure.core.inventory import load_inventory
    from email_infrastructure.reconcile.registry import provider_schemas

    return load_inventory(path, provider_schemas())


__all__ = ["load_inventory_file"]

"""The inventory: what a team declares (YAML, version 1) and how it is loaded."""

from email_infrastructure.core.inventory.loader import LoadedInventory, load_inventory
from email_infrastructure.core.inventory.schema import (
    DomainSpec,
    Inventory,
    MailboxSpec,
    ProviderSpec,
    ResolvedDomain,
    ServerSpec,
)

__all__ = [
    "DomainSpec",
    "Inventory",
    "LoadedInventory",
    "MailboxSpec",
    "ProviderSpec",
    "ResolvedDomain",
    "ServerSpec",
    "load_inventory",
]

"""Plan and apply an inventory text through the services, on a fresh database (SQLite, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from email_infrastructure.core.inventory import LoadedInventory
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import plans
from email_infrastructure.services.app import App


@dataclass
class Reconciler:
    """An inventory text planned and applied through the services, as `apply -f` does."""

    app: App
    source: LoadedInventory

    async def plan(self, **kwargs: Any) -> plans.Plan:
        return await plans.plan(self.app, source=self.source, **kwargs)

    async def apply(self, **kwargs: Any) -> plans.ApplyResult:
        return await plans.apply(self.app, source=self.source, **kwargs)

    async def dkim_keys(self) -> dict[str, str]:
        """Each domain's DKIM public key, as the vault holds it."""
        from email_infrastructure.core.rsa_keys import public_key_b64
        from email_infrastructure.core.secret_names import dkim_key
        from email_infrastructure.services.context import AppContext

        domains = self.source.inventory.resolved_domains()
        stored = await AppContext(self.app).secrets([dkim_key(d.name, d.dkim_selector) for d in domains])
        return {owner.removeprefix("domain:"): public_key_b64(pem) for (owner, _), pem in stored.items()}


Make = Callable[[str], Awaitable[Reconciler]]


@pytest.fixture
async def make_reconciler(app: App) -> Make:
    """`await make(text)` → plan/apply of that inventory; each call sees the same database."""

    async def make(text: str) -> Reconciler:
        return Reconciler(app, parse_inventory_text(text, "inventory.yaml", provider_schemas()))

    return make

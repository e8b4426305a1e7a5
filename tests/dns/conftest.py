"""Build a DnsReconciler from inventory text, on a fresh database (SQLite, then PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import pytest

from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.core.settings import Settings
from email_infrastructure.reconcile.dns import DnsReconciler
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.storage.db import Database

Make = Callable[[str], Awaitable[DnsReconciler]]


@pytest.fixture
def events() -> list[Event]:
    return []


@pytest.fixture
async def make_reconciler(settings: Settings, database: Database, events: list[Event]) -> AsyncIterator[Make]:
    """`await make(text)` → a reconciler for that inventory; each call sees the same database."""
    async with AsyncExitStack() as stack:

        async def make(text: str) -> DnsReconciler:
            inv = parse_inventory_text(text, "inventory.yaml", provider_schemas()).inventory
            bus = EventBus()
            bus.subscribe("dns.*", events.append)
            service = DnsReconciler(settings, inv, database, bus)
            stack.push_async_callback(service.close)
            return service

        yield make

"""Alembic migrations and the desired-state repository, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

from email_infrastructure.core.database import create_engine, session_factory
from email_infrastructure.core.inventory.loader import parse_inventory_text
from email_infrastructure.storage import migrate
from email_infrastructure.storage.repositories import DesiredState

INVENTORY = (Path(__file__).parents[2] / "examples" / "quickstart.yaml").read_text()


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    await migrate.upgrade(database_url)
    tables = await _tables(database_url)
    assert {
        "domains",
        "mailboxes",
        "servers",
        "events",
        "api_keys",
        "secrets",
        "alembic_version",
    } <= tables
    engine = create_engine(database_url)
    assert await migrate.current_revision(engine) == migrate.head_revision()
    await engine.dispose()
    await migrate.downgrade(database_url, "base")
    assert await _tables(database_url) == {"alembic_version"}
    await migrate.upgrade(database_url)
    assert "domains" in await _tables(database_url)


async def test_inventory_sync_upserts_and_removes(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    state = DesiredState(session_factory(engine))
    inv = parse_inventory_text(INVENTORY, "q.yaml").inventory
    counts = await state.sync_inventory(inv, "inventory:q.yaml")
    assert counts == {"servers": 1, "domains": 2, "mailboxes": 3, "removed": 0}
    assert await state.sync_inventory(inv, "inventory:q.yaml") == counts
    domains = await state.domains()
    assert [d.name for d in domains] == ["acme-mail.test", "acme-outreach.test"]
    assert [m.local_part for m in domains[1].mailboxes] == ["ann.lee", "bob.stone"]

    smaller = INVENTORY.split("  - name: acme-mail.test")[0].replace(
        "      - {first_name: Bob, last_name: Stone}\n", ""
    )
    inv2 = parse_inventory_text(smaller, "q.yaml").inventory
    counts = await state.sync_inventory(inv2, "inventory:q.yaml")
    assert counts["removed"] == 1
    domains = await state.domains()
    assert [d.name for d in domains] == ["acme-outreach.test"]
    assert [m.local_part for m in domains[0].mailboxes] == ["ann.lee"]
    await engine.dispose()

"""Alembic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from email_infrastructure.core.database import create_engine
from email_infrastructure.storage import migrate


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

"""Migration 0008 creates exactly the report tables the models declare (SQLite and PostgreSQL)."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from email_infrastructure.core.database import create_engine
from email_infrastructure.storage import migrate
from email_infrastructure.storage.models import Base

TABLES = {"dmarc_reports", "dmarc_records", "dmarc_sources", "tls_reports", "tls_policy_results", "tls_failures",
          "dmarc_failure_reports"}  # fmt: skip


def _ours(diff: object) -> bool:
    text = repr(diff)  # a table, column or index of ours is named in the difference
    return any(t in text for t in TABLES)


async def test_the_migration_matches_the_models_and_downgrades_cleanly(database_url: str) -> None:
    await migrate.upgrade(database_url)
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), Base.metadata))
            names = set(await conn.run_sync(lambda c: c.dialect.get_table_names(c)))
        assert names >= TABLES
        assert [d for d in diff if _ours(d)] == []
        await migrate.downgrade(database_url, "0006")
        async with engine.connect() as conn:
            names = set(await conn.run_sync(lambda c: c.dialect.get_table_names(c)))
        assert not TABLES & names
    finally:
        await engine.dispose()

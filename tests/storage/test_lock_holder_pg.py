"""The PostgreSQL apply lock names its holder from the same database only (advisory locks are per database)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from email_infrastructure.core.settings import normalise_database_url
from email_infrastructure.storage.locks import LockBusyError, advisory_lock
from tests.fixtures.databases import PostgresDatabases


@pytest.fixture
def other_database(postgres_databases: PostgresDatabases) -> Iterator[str]:
    name = postgres_databases.empty()
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.drop(name)


async def test_a_holder_in_another_database_is_never_named(postgres_url: str, other_database: str) -> None:
    here = create_async_engine(normalise_database_url(postgres_url))
    there = create_async_engine(normalise_database_url(other_database))
    key = 0x5EED_0001
    try:
        # the same key is free here: taken at once, whatever the other database holds
        async with (
            advisory_lock(there, key, "holder-in-another-database", timeout=1),
            advisory_lock(here, key, "first-here", timeout=1),
        ):
            with pytest.raises(LockBusyError) as busy:
                async with advisory_lock(here, key, "second-here", timeout=0.3):
                    pass
        assert "first-here" in str(busy.value)
        assert "holder-in-another-database" not in str(busy.value)
    finally:
        await here.dispose()
        await there.dispose()

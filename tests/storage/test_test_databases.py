"""The suite's migrated PostgreSQL databases: a copy given back is reset to the template before reuse."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from email_infrastructure.storage.migrate import head_revision
from tests.fixtures.databases import PostgresDatabases


@pytest.fixture
def databases(postgres_server: str, tmp_path: Path) -> Iterator[PostgresDatabases]:
    made = PostgresDatabases(postgres_server, tmp_path)
    yield made
    made.close()


def query(url: str, *statements: str) -> list[object]:
    async def run() -> list[object]:
        conn = await asyncpg.connect(url)
        try:
            return [await conn.fetchval(statement) for statement in statements]
        finally:
            await conn.close()

    return asyncio.run(run())


FRESH = (
    "SELECT count(*) FROM events",
    "SELECT nextval('providers_id_seq')",
    "SELECT version_num FROM alembic_version",
    "SELECT pg_try_advisory_lock(4242)",
)


def test_a_copy_given_back_comes_back_as_the_template_left_it(databases: PostgresDatabases) -> None:
    name = databases.migrated()
    url = databases.url(name)
    fresh = query(url, *FRESH)
    assert fresh[2:] == [head_revision(), True]
    query(url, "SELECT pg_advisory_unlock_all()")
    # what a test may leave: rows, a used sequence, another process's connection holding a lock
    query(
        url,
        "INSERT INTO events (id, topic, source, payload, occurred_at) VALUES ('x', 'test.left', '', '{}', now())",
        "INSERT INTO providers (workspace_id, kind, name, type, settings, managed_by, created_at, updated_at)"
        " VALUES (1, 'dns', 'p', 'zonefile', '{}', 'api', now(), now())",
    )
    holder = subprocess.Popen(
        ["psql", url, "-Atc", "SELECT pg_advisory_lock(4242), pg_sleep(600)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while query(
            url,
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND l.objid = 4242 AND d.datname = current_database()",
        ) != [1]:
            assert holder.poll() is None, "psql ended before it held the lock"
        databases.give_back(name)
        assert databases.migrated() == name  # reused, not created again
        assert query(url, *FRESH) == fresh
    finally:
        holder.kill()
        holder.wait(10)


def test_a_copy_whose_schema_a_test_changed_is_dropped_not_reused(databases: PostgresDatabases) -> None:
    name = databases.migrated()
    query(databases.url(name), "ALTER TABLE events ADD COLUMN left_by_a_test integer")
    databases.give_back(name)
    assert databases.migrated() != name
    assert query(databases.admin_url, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == [0]  # noqa: S608  # our own name

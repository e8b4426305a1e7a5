"""Alembic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import sqlalchemy as sa
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


async def test_plans_kept_as_plan_jobs_become_stored_plans_and_back(database_url: str) -> None:
    await migrate.upgrade(database_url, "0012")
    plan = {"checksum": "sha256:abc", "summary": {"create": 1}, "steps": []}
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = {"status": "succeeded", "progress": {}, "created_at": when, "updated_at": when}
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                _JOBS.insert(),
                [
                    {**job, "id": "p1", "kind": "plan", "params": {}, "result": plan, "key_name": "alice"},
                    {**job, "id": "j1", "kind": "apply", "params": {"plan": "p1"}, "result": None, "key_name": "bob"},
                ],
            )
        await migrate.upgrade(database_url)
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(_PLANS))).all()
            kinds = sorted((await conn.execute(sa.select(_JOBS.c.id, _JOBS.c.kind))).all())
        assert [(r.id, r.checksum, r.plan, r.key_name) for r in stored] == [("p1", "sha256:abc", plan, "alice")]
        assert stored[0].created_at.replace(tzinfo=UTC) == when
        assert kinds == [("j1", "apply")]  # the apply job stays, naming the plan by the same id

        await migrate.downgrade(database_url, "0012")
        async with engine.connect() as conn:
            back = (await conn.execute(sa.select(_JOBS).where(_JOBS.c.id == "p1"))).one()
        assert (back.kind, back.status, back.result, back.key_name) == ("plan", "succeeded", plan, "alice")
    finally:
        await engine.dispose()


_JOBS = sa.table(
    "jobs",
    *(sa.column(name) for name in ("id", "kind", "status", "key_name")),
    *(sa.column(name, sa.JSON()) for name in ("params", "progress", "result")),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
)
_PLANS = sa.table(
    "stored_plans",
    *(sa.column(name) for name in ("id", "checksum", "key_name")),
    sa.column("plan", sa.JSON()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def test_the_head_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite:///:memory:"))
    assert migrate.head_revision() == script.get_current_head()


async def test_the_revision_read_without_alembic_is_alembics(database_url: str) -> None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(database_url)
    try:
        assert await migrate.current_revision(engine) is None  # an empty database
        for revision in ("0005", "head"):
            await migrate.upgrade(database_url, revision)
            async with engine.connect() as conn:
                alembics = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
            assert await migrate.current_revision(engine) == alembics
    finally:
        await engine.dispose()


def test_opening_a_migrated_database_imports_no_alembic(migrated_database_url: str) -> None:
    # every command that reads state opens the database: Alembic's import cost each a second
    code = (
        "import asyncio, sys\n"
        "from email_infrastructure.core.database import create_engine\n"
        "from email_infrastructure.storage.migrate import current_revision, head_revision\n"
        f"engine = create_engine({migrated_database_url!r})\n"
        "assert asyncio.run(current_revision(engine)) == head_revision()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _t(name: str, *columns: str, json: tuple[str, ...] = (), times: tuple[str, ...] = ()) -> sa.TableClause:
    return sa.table(
        name,
        *(sa.column(c) for c in columns),
        *(sa.column(c, sa.JSON()) for c in json),
        *(sa.column(c, sa.DateTime(timezone=True)) for c in times),
    )


async def test_a_database_of_the_previous_release_keeps_every_row_in_the_default_workspace(database_url: str) -> None:
    await migrate.upgrade(database_url, "0013")
    now = datetime(2026, 1, 2, tzinfo=UTC)
    stamps = {"created_at": now, "updated_at": now}
    rows: dict[sa.TableClause, list[dict[str, object]]] = {
        _t("providers", "kind", "name", "type", "managed_by", json=("settings",), times=("created_at", "updated_at")): [
            {"kind": "dns", "name": "zf", "type": "zonefile", "managed_by": "api", "settings": {}, **stamps}
        ],
        _t("desired_settings", "key", "managed_by", json=("value",), times=("created_at", "updated_at")): [
            {"key": "defaults", "managed_by": "api", "value": {"spf_all": "-all"}, **stamps}
        ],
        _t("domains", "name", "managed_by", json=("spec",), times=("created_at", "updated_at")): [
            {"name": f"d{i}.test", "managed_by": "api", "spec": {}, **stamps} for i in range(3)
        ],
        _t("secrets", "owner", "name", "ciphertext", times=("created_at", "updated_at")): [
            {"owner": "domain:d0.test", "name": "dkim:s1", "ciphertext": "x", **stamps}
        ],
        _t("check_states", "subject", "check", "status", "summary", times=("since", "checked_at")): [
            {"subject": "d0.test", "check": "spf", "status": "ok", "summary": "", "since": now, "checked_at": now}
        ],
        _t("events", "id", "topic", "source", json=("payload",), times=("occurred_at",)): [
            {"id": "e1", "topic": "desired.domain.created", "source": "api", "payload": {}, "occurred_at": now}
        ],
        _t("api_keys", "name", "prefix", "key_hash", "scopes", times=("created_at",)): [
            {"name": "ops", "prefix": "abcd1234", "key_hash": "h", "scopes": "admin", "created_at": now}
        ],
    }
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table, values in rows.items():
                await conn.execute(table.insert(), values)
        await migrate.upgrade(database_url)
        async with engine.connect() as conn:
            assert (await conn.execute(sa.text("SELECT id, name FROM workspaces"))).all() == [(1, "default")]
            for table, values in rows.items():
                kept = (await conn.execute(sa.text(f"SELECT workspace_id FROM {table.name}"))).scalars().all()  # noqa: S608  # table names are this test's own
                wanted = None if table.name == "api_keys" else 1  # keys made before workspaces are operator keys
                assert kept == [wanted] * len(values), table.name
            # a second workspace gets a fresh id (the explicit id 1 must not leave PostgreSQL's sequence behind)
            await conn.execute(sa.text("INSERT INTO workspaces (name, created_at) VALUES ('acme', :t)"), {"t": now})
            assert (await conn.execute(sa.text("SELECT id FROM workspaces WHERE name = 'acme'"))).scalar() == 2
    finally:
        await engine.dispose()

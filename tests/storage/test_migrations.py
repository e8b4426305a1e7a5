"""Alembic migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

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

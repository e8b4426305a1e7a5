"""Migrations 0015's and 0018's backfills of `domain_status` write the rows `rows_select` computes
(storage/overview_rows.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from email_infrastructure.core.database import create_engine
from email_infrastructure.storage import migrate
from email_infrastructure.storage.models import Domain, DomainStatus
from email_infrastructure.storage.overview_rows import refresh, rows_select


async def test_the_backfill_writes_the_rows_the_check_states_say(database_url: str) -> None:
    await migrate.upgrade(database_url, "0014")
    now = datetime(2026, 1, 2, tzinfo=UTC)
    stamps = {"created_at": now, "updated_at": now}
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO servers (workspace_id, name, hostname, ipv4, managed_by, spec, created_at, updated_at)"
                    " VALUES (1, 'mx1', 'mail.test', '192.0.2.1', 'api', '{}', :created_at, :updated_at)"
                ),
                stamps,
            )
            for i, server in enumerate((1, None, 1, None)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO domains (workspace_id, name, dns_provider, server_id, managed_by, spec,"
                        " created_at, updated_at) VALUES (1, :name, 'zf', :server, 'api', '{}', :created_at,"
                        " :updated_at)"
                    ),
                    {"name": f"d{i}.test", "server": server, **stamps},
                )
            await conn.execute(
                sa.text(
                    "INSERT INTO mailboxes (workspace_id, domain_id, local_part, first_name, last_name, managed_by,"
                    " created_at, updated_at) SELECT 1, id, 'ann', 'A', 'L', 'api', :created_at, :updated_at"
                    " FROM domains WHERE name = 'd1.test'"
                ),
                stamps,
            )
            states = [
                ("192.0.2.1", "dnsbl", "error"),
                ("d0.test", "spf", "warning"),
                ("d1.test", "drift", "ok"),
                ("ann@d1.test", "mailbox", "error"),
                ("d2.test", "ptr", "error"),  # a check of no column counts for none
                ("ann@d1.test", "sequencer", "warning"),
                ("d3.test", "expiry", "warning"),  # columns since 0018: registration (with expiry), delegation
                ("d3.test", "delegation", "ok"),
            ]
            for subject, check, status in states:
                await conn.execute(
                    sa.text(
                        'INSERT INTO check_states (workspace_id, subject, "check", status, since, checked_at, summary)'
                        " VALUES (1, :subject, :check, :status, :t, :t, '')"
                    ),
                    {"subject": subject, "check": check, "status": status, "t": now},
                )
        await migrate.upgrade(database_url)
        columns = [c for c in DomainStatus.__table__.columns if c.name not in ("checked_at",)]
        async with engine.connect() as conn:
            stored = (await conn.execute(sa.select(*columns).order_by(DomainStatus.name))).all()
            computed = rows_select(Domain.workspace_id == 1).subquery()
            fresh = (
                await conn.execute(sa.select(*(computed.c[c.name] for c in columns)).order_by(computed.c.name))
            ).all()
        assert stored == fresh
        by_name = {row.name: row for row in stored}
        assert (by_name["d0.test"].spf, by_name["d0.test"].dnsbl, by_name["d0.test"].status) == (2, 4, 4)
        assert (by_name["d1.test"].mailbox, by_name["d1.test"].dnsbl, by_name["d1.test"].status) == (4, 0, 4)
        d2 = by_name["d2.test"]  # on mx1; its own ptr state fills no column
        assert (d2.dnsbl, d2.status, d2.drift + d2.spf + d2.dkim + d2.dmarc + d2.tls + d2.mailbox) == (4, 4, 0)
        assert by_name["d1.test"].sequencer == 2
        d3 = by_name["d3.test"]  # no server: its registration's warning is its status
        assert (d3.registration, d3.delegation, d3.sequencer, d3.status) == (2, 1, 0, 2)
    finally:
        await engine.dispose()


async def test_two_writers_of_one_domains_row_at_once_both_commit(postgres_url: str) -> None:
    """Two families' results of one domain stored at the same moment (two workers): the second writer of its
    row waits for the first and updates it, never a unique-key error (PostgreSQL: SQLite's writers queue)."""
    await migrate.upgrade(postgres_url)
    now = datetime(2026, 1, 2, tzinfo=UTC)
    engine = create_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO domains (workspace_id, name, dns_provider, managed_by, spec, created_at, updated_at)"
                    " VALUES (1, 'race.test', 'zf', 'api', '{}', :t, :t)"
                ),
                {"t": now},
            )
        where = Domain.name == "race.test"
        async with engine.connect() as first, engine.connect() as second:
            await first.begin()
            await first.run_sync(refresh, where)
            await second.begin()
            waiting = asyncio.ensure_future(second.run_sync(refresh, where))
            await _blocked_on_a_lock(engine)  # the second writer reached the row the first holds
            assert not waiting.done()
            await first.commit()
            await waiting
            await second.commit()
        async with engine.connect() as conn:
            count = await conn.scalar(sa.select(sa.func.count()).select_from(DomainStatus))
        assert count == 1
    finally:
        await engine.dispose()


async def _blocked_on_a_lock(engine: Any) -> None:
    """Until a backend of this database waits on a lock (bounded)."""
    async with engine.connect() as conn:
        for _ in range(500):
            waiting = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock'"
                )
            )
            if waiting:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the second writer never waited for the first")

"""One process at a time per database: a lock file on SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from email_infrastructure.core.errors import UserError

#: advisory lock keys (any 64-bit numbers, fixed so that every process agrees)
APPLY_LOCK = 0x656D_6169_6C01
MIGRATE_LOCK = 0x656D_6169_6C02
_POLL = 0.2
#: the lock files' names beside a SQLite database (`email-infra.db.apply.lock`)
_LOCK_NAMES = {APPLY_LOCK: "apply", MIGRATE_LOCK: "migrate"}


class LockBusyError(UserError):
    """Another process holds the lock for longer than we were willing to wait."""


def holder_description(command: str) -> str:
    """Who we are, for the message another process shows while we hold a lock."""
    started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{command} (pid {os.getpid()} on {socket.gethostname()}, since {started})"


def sqlite_path(engine: AsyncEngine) -> Path | None:
    """The database file of a SQLite engine, None for PostgreSQL or an in-memory database."""
    url = make_url(str(engine.url))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


@contextlib.asynccontextmanager
async def file_lock(path: Path, holder: str, timeout: float) -> AsyncIterator[None]:
    """An exclusive flock on `path`, waiting at most `timeout` seconds; the holder is written in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    handle: IO[str] = os.fdopen(fd, "r+", encoding="utf-8")
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusyError(_busy(_read_holder(path), timeout)) from None
                await asyncio.sleep(_POLL)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"holder": holder}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _read_holder(path: Path) -> str:
    try:
        return str(json.loads(path.read_text(encoding="utf-8") or "{}").get("holder") or "another process")
    except (OSError, ValueError):
        return "another process"


def _busy(holder: str, timeout: float) -> str:
    return f"the database is locked by {holder}; waited {timeout:g} s (try again later, or raise --lock-timeout)"


@contextlib.asynccontextmanager
async def advisory_lock(engine: AsyncEngine, key: int, holder: str, timeout: float) -> AsyncIterator[None]:
    """A PostgreSQL session advisory lock on its own connection, polled up to `timeout` seconds."""
    async with engine.connect() as conn:
        # The application name is what another waiting process reads to say who holds the lock.
        await conn.execute(text("SELECT set_config('application_name', :name, false)"), {"name": holder[:63]})
        await conn.commit()
        deadline = time.monotonic() + timeout
        while not (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar():
            await conn.commit()
            if time.monotonic() >= deadline:
                raise LockBusyError(_busy(await _pg_holder(conn, key), timeout))
            await asyncio.sleep(_POLL)
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            await conn.commit()


async def _pg_holder(conn: AsyncConnection, key: int) -> str:
    row = (
        await conn.execute(
            text(
                "SELECT a.application_name, a.pid, a.client_addr FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                # advisory locks are per database: the same key held in another database is not ours
                "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND ((l.classid::bigint << 32) | l.objid::bigint) = :k"
            ),
            {"k": key},
        )
    ).first()
    await conn.commit()
    if row is None:
        return "another process"
    name, pid, addr = row
    return f"{name or 'a PostgreSQL session'} (backend pid {pid}{f' from {addr}' if addr else ''})"


@contextlib.asynccontextmanager
async def database_lock(engine: AsyncEngine, key: int, holder: str, timeout: float) -> AsyncIterator[None]:
    """The lock that fits the engine: a lock file beside a SQLite database, else an advisory lock."""
    path = sqlite_path(engine)
    if path is None and engine.dialect.name == "sqlite":
        yield  # an in-memory database belongs to this process alone
        return
    if path is not None:
        async with file_lock(path.with_name(f"{path.name}.{_LOCK_NAMES.get(key, key)}.lock"), holder, timeout):
            yield
        return
    async with advisory_lock(engine, key, holder, timeout):
        yield

"""The database engine and sessions (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from email_infrastructure.core.settings import normalise_database_url

#: the data directory and the SQLite database hold secrets (encrypted) and the audit log: owner only
PRIVATE_DIR_MODE = 0o700
DATABASE_FILE_MODE = 0o600


def make_dirs(path: Path, mode: int) -> None:
    """Create `path` and its missing parents with exactly `mode`, whatever the umask; existing ones are kept."""
    missing: list[Path] = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs to keep
        os.chmod(directory, mode)  # mkdir's mode is narrowed by the umask


def _create_private_file(path: Path) -> None:
    """Create an empty database file 0600 before SQLite does (it would use 0644 & ~umask).

    SQLite gives its -wal and -shm files the mode of the database file, so they follow.
    An existing file is left as it is.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, DATABASE_FILE_MODE)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, DATABASE_FILE_MODE)  # the umask may have narrowed it further (e.g. 0400)
    finally:
        os.close(fd)


#: execution option of a connection whose transaction only reads (on SQLite it begins without the write lock)
READ_ONLY = "email_infra_read_only"


def create_engine(url: str) -> AsyncEngine:
    """An async engine; SQLite gets foreign keys and WAL, its directory (0700) and file (0600) are created."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # URI filenames (file:...) are SQLite's to interpret; plain paths are created here, privately.
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            database = Path(parsed.database)
            make_dirs(database.parent, PRIVATE_DIR_MODE)
            _create_private_file(database)
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
            # The driver's own BEGIN is deferred: a transaction that read first and writes later
            # then fails at once with "database is locked" when another connection wrote in
            # between (no busy wait). We begin ourselves, below.
            dbapi_connection.isolation_level = None

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock up front: concurrent units of work wait their turn (timeout 30 s).
            # A transaction marked read-only needs no lock: WAL readers never wait for writers.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

        return engine
    # JIT off: our queries are short, and PostgreSQL's JIT, triggered by cost estimates (a fresh bulk load
    # has no statistics yet), spent 116 ms compiling a 50-row page read
    return create_async_engine(url, pool_pre_ping=True, connect_args={"server_settings": {"jit": "off"}})


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)

"""Run Alembic migrations programmatically (the CLI's `db upgrade`)."""

from __future__ import annotations

import asyncio
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from email_infrastructure.core.errors import StorageError
from email_infrastructure.core.settings import normalise_database_url

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

MIGRATIONS = Path(__file__).parent / "migrations"
# Alembic is imported where it is used: commands that never migrate start faster without it.


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return config


_REVISION = re.compile(r"^(down_revision|revision)\s*(?::[^=]*)?=\s*[\"']?([\w]+)?[\"']?", re.M)


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this version.

    Read from the migration files' `revision`/`down_revision` lines, not through Alembic: every
    command that opens the database asks, and importing Alembic cost a one-domain audit a second
    (a test checks the answer against Alembic's).
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for kind, value in _REVISION.findall(path.read_text()):
            if value and value != "None":
                (revisions if kind == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise StorageError(f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): expected one")
    return heads.pop()


async def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database to `revision` (Alembic drives its own event loop in a thread)."""
    from alembic import command

    await asyncio.to_thread(command.upgrade, alembic_config(url), revision)


async def downgrade(url: str, revision: str) -> None:
    """Migrate the database down to `revision`."""
    from alembic import command

    await asyncio.to_thread(command.downgrade, alembic_config(url), revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database (read without Alembic)."""

    def read(conn: Connection) -> str | None:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
        if len(found) > 1:
            raise StorageError(f"the database is at several revisions ({', '.join(sorted(found))})")
        return str(found[0]) if found else None

    async with engine.connect() as conn:
        return await conn.run_sync(read)

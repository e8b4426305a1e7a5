"""Open the project's database: connect, migrate the embedded default, map failures."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from email_infrastructure.core.database import create_engine, session_factory
from email_infrastructure.core.errors import StorageError
from email_infrastructure.core.settings import Settings
from email_infrastructure.storage.locks import MIGRATE_LOCK, database_lock, holder_description
from email_infrastructure.storage.migrate import current_revision, head_revision, upgrade

#: how long a command waits for another one's migration of the same database
MIGRATION_WAIT = 120.0


@dataclass
class Database:
    """An engine and its session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    url: str

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()


def sqlite_file(settings: Settings) -> Path | None:
    """The SQLite file the settings point at (None for PostgreSQL or an in-memory database)."""
    url = make_url(settings.database_url_effective)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


async def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """Connect and check the schema; SQLite is migrated automatically, PostgreSQL on request.

    Migration holds the database lock, so two commands started together on a fresh data dir
    do not both create the tables.
    """
    url = settings.database_url_effective
    engine = create_engine(url)
    if migrate is None:
        migrate = engine.dialect.name == "sqlite"
    try:
        revision = await current_revision(engine)
        if migrate and revision != head_revision():
            async with database_lock(engine, MIGRATE_LOCK, holder_description("a migration"), MIGRATION_WAIT):
                await upgrade(url)
            revision = await current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        raise StorageError(f"cannot use the database: {_reason(exc)}") from None
    except BaseException:
        await engine.dispose()
        raise
    if revision != head_revision():
        await engine.dispose()
        raise StorageError(
            f"the database schema is at {revision or 'nothing'}, this version needs "
            f"{head_revision()}: run `email-infra db upgrade`"
        )
    return Database(engine=engine, sessions=session_factory(engine), url=url)


def _reason(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__

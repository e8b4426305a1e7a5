"""Open the project's database: connect, migrate the embedded default, map failures."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from email_infrastructure.core.database import create_engine, session_factory
from email_infrastructure.core.errors import StorageError
from email_infrastructure.core.settings import Settings
from email_infrastructure.storage.migrate import current_revision, head_revision, upgrade


@dataclass
class Database:
    """An engine and its session factory."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    url: str

    async def close(self) -> None:
        """Release every connection."""
        await self.engine.dispose()


async def open_database(settings: Settings, *, migrate: bool | None = None) -> Database:
    """Connect and check the schema; SQLite is migrated automatically, PostgreSQL on request."""
    url = settings.database_url_effective
    engine = create_engine(url)
    if migrate is None:
        migrate = engine.dialect.name == "sqlite"
    try:
        if migrate:
            await upgrade(url)
        revision = await current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        await engine.dispose()
        raise StorageError(f"cannot use the database: {_reason(exc)}") from None
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

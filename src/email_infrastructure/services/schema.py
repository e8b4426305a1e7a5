"""The database schema: migrate it and read its revision (`email-infra db`), errors said as StorageError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from email_infrastructure.core.errors import EmailInfraError, StorageError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from email_infrastructure.services.app import App


@asynccontextmanager
async def _engine(url: str) -> AsyncIterator[AsyncEngine]:
    from email_infrastructure.core.database import create_engine

    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def upgrade_schema(url: str, revision: str = "head") -> str | None:
    """Migrate the database at `url` to `revision`; its revision after."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from email_infrastructure.storage import migrate

    try:
        await migrate.upgrade(url, revision)
        async with _engine(url) as engine:
            return await migrate.current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StorageError(f"cannot migrate the database: {reason}") from None


async def current_schema(url: str) -> str | None:
    """The revision of the database at `url` (None: empty)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from email_infrastructure.storage import migrate

    try:
        async with _engine(url) as engine:
            return await migrate.current_revision(engine)
    except (OperationalError, DBAPIError, OSError) as exc:
        raise StorageError(f"cannot read the database: {exc}") from None


async def ready_schema(app: App) -> str:
    """What `/ready` says: the database's dialect and revision; StorageError unless it answers and is at head."""
    from email_infrastructure.storage.migrate import current_revision, head_revision

    try:
        db = await app.database()
        revision = await current_revision(db.engine)
    except EmailInfraError:
        raise
    except Exception as exc:
        raise StorageError(f"the database does not answer: {type(exc).__name__}") from None
    if revision != head_revision():
        raise StorageError(f"the database schema is at {revision or 'nothing'}, this version needs {head_revision()}")
    return f"{db.engine.dialect.name} at revision {revision}"


def head_schema() -> str:
    """The newest revision this version ships."""
    from email_infrastructure.storage import migrate

    return str(migrate.head_revision())


__all__ = ["current_schema", "head_schema", "ready_schema", "upgrade_schema"]

"""`email-infra db`: database migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from email_infrastructure.cli.common import console, run, settings
from email_infrastructure.core.errors import StorageError

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the database (SQLite in the data dir, or DATABASE_URL) to the newest schema."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from email_infrastructure.core.database import create_engine
    from email_infrastructure.storage import migrate

    url = settings().database_url_effective

    async def go() -> str | None:
        try:
            await migrate.upgrade(url, revision)
            engine = create_engine(url)
            try:
                return await migrate.current_revision(engine)
            finally:
                await engine.dispose()
        except (OperationalError, DBAPIError, OSError) as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StorageError(f"cannot migrate the database: {reason}") from None

    console.print(f"database at revision {run(go())}")


@app.command()
def current() -> None:
    """Print the database's schema revision and the newest one this version ships."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    from email_infrastructure.core.database import create_engine
    from email_infrastructure.storage import migrate

    url = settings().database_url_effective

    async def go() -> str | None:
        engine = create_engine(url)
        try:
            return await migrate.current_revision(engine)
        except (OperationalError, DBAPIError, OSError) as exc:
            raise StorageError(f"cannot read the database: {exc}") from None
        finally:
            await engine.dispose()

    console.print(f"current: {run(go()) or 'empty'}; head: {migrate.head_revision()}")

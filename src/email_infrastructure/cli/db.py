"""`email-infra db`: database migrations (services/schema.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from email_infrastructure.cli.common import console, run, settings

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the database (SQLite in the data dir, or DATABASE_URL) to the newest schema."""
    from email_infrastructure.services.schema import upgrade_schema

    console.print(f"database at revision {run(upgrade_schema(settings().database_url_effective, revision))}")


@app.command()
def current() -> None:
    """Print the database's schema revision and the newest one this version ships."""
    from email_infrastructure.services.schema import current_schema, head_schema

    found = run(current_schema(settings().database_url_effective))
    console.print(f"current: {found or 'empty'}; head: {head_schema()}")

"""storage/api_repositories.py: SQLite's one-statement page read gives way to the unit of work's when it cannot answer."""

from __future__ import annotations

from pathlib import Path

from email_infrastructure.core.database import create_engine
from email_infrastructure.storage.api_repositories import page_outside_transaction


async def test_an_error_of_the_one_statement_read_is_left_to_the_unit_of_work(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        # no tables: SQLite refuses the statement, and the caller reads in a unit of work (which reports it)
        assert await page_outside_transaction(engine, workspace_id=1, limit=50, offset=0) is None
    finally:
        await engine.dispose()

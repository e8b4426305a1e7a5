"""Run keys: the effects of a task run are stored once, however often an at-least-once queue delivers it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import WorkerRunKey

#: keys per statement: well under what SQLite (32,766) and asyncpg (32,767) bind
_CHUNK = 1000


class RunKeys:
    """Claims of task runs, bound to a unit of work's session (claimed in the effect's transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def seen(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` whose runs already stored their effects."""
        found: set[str] = set()
        unique = sorted(set(keys))
        for start in range(0, len(unique), _CHUNK):
            query = select(WorkerRunKey.key).where(WorkerRunKey.key.in_(unique[start : start + _CHUNK]))
            found.update((await self._session.scalars(query)).all())
        return found

    async def claim(self, keys: Sequence[str]) -> set[str]:
        """Claim keys in this transaction; the ones claimed here (a key claimed elsewhere is skipped).

        `INSERT … ON CONFLICT DO NOTHING`, keys sorted: on PostgreSQL a key another transaction
        has inserted but not committed makes this one wait for it, and the same order in every
        claim keeps two overlapping claims from waiting on each other.
        """
        unique = sorted(set(keys))
        if not unique:
            return set()
        dialect = (await self._session.connection()).dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        claimed: set[str] = set()
        for start in range(0, len(unique), _CHUNK):
            rows = [{"key": key} for key in unique[start : start + _CHUNK]]
            statement = insert(WorkerRunKey).values(rows).on_conflict_do_nothing(index_elements=["key"])
            claimed.update((await self._session.scalars(statement.returning(WorkerRunKey.key))).all())
        return claimed

    async def release(self, keys: Sequence[str]) -> None:
        """Forget claims whose effects were not stored after all (their run failed): claimed again later."""
        unique = sorted(set(keys))
        for start in range(0, len(unique), _CHUNK):
            await self._session.execute(
                delete(WorkerRunKey).where(WorkerRunKey.key.in_(unique[start : start + _CHUNK]))
            )

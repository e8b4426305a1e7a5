"""Run keys: the effects of a task run are stored once, however often an at-least-once queue delivers it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import WorkerRunKey


class RunKeys:
    """Claims of task runs, bound to a unit of work's session (claimed in the effect's transaction)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def seen(self, key: str) -> bool:
        """True when a run with this key already stored its effects."""
        return await self._session.scalar(select(WorkerRunKey.id).where(WorkerRunKey.key == key)) is not None

    async def claim(self, key: str) -> None:
        """Stage the key; a concurrent run with the same key fails on the unique constraint at flush."""
        self._session.add(WorkerRunKey(key=key))
        await self._session.flush()

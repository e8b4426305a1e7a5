"""SecretStore.get_or_create: callers that find a secret absent at once still end with one value, one row."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from email_infrastructure.services.app import App
from email_infrastructure.storage.models import SecretRecord

OWNER, NAME = "test", "shared-secret"


async def _rows(app: App) -> int:
    async with app.uow() as uow:
        count = await uow.session.scalar(
            select(func.count()).select_from(SecretRecord).where(SecretRecord.owner == OWNER)
        )
    return int(count or 0)


async def test_concurrent_callers_get_the_same_value_and_one_row(app: App) -> None:
    async def caller(value: str) -> str:
        async with app.uow() as uow:
            got = await uow.secrets().get_or_create(OWNER, NAME, lambda: value)
            await uow.commit()
        return got

    first, second = await asyncio.gather(caller("one"), caller("two"))
    assert first == second and first in ("one", "two")
    assert await _rows(app) == 1
    assert await caller("three") == first  # stored: the factory's value is not used again


async def test_the_loser_of_an_insert_race_reads_the_winners_value(app: App, backend: str) -> None:
    """Both callers find the secret absent before either commits (PostgreSQL: the loser's insert waits
    for the winner's commit, fails on the unique key, and the loser reads the winner's value)."""
    if backend == "sqlite":
        pytest.skip("SQLite's writers run one at a time (BEGIN IMMEDIATE): the second finds the first's row")
    winner_wrote, loser_read = asyncio.Event(), asyncio.Event()
    made: list[str] = []

    async def winner() -> str:
        async with app.uow() as uow:
            got = await uow.secrets().get_or_create(OWNER, NAME, lambda: made.append("winner") or "winner")
            winner_wrote.set()
            await loser_read.wait()  # the loser has found the secret absent
            await uow.commit()
        return got

    async def loser() -> str:
        await winner_wrote.wait()

        def factory() -> str:
            made.append("loser")
            loser_read.set()
            return "loser"

        async with app.uow() as uow:
            got = await uow.secrets().get_or_create(OWNER, NAME, factory)
            await uow.commit()
        return got

    assert await asyncio.gather(winner(), loser()) == ["winner", "winner"]
    assert made == ["winner", "loser"]  # both found it absent: a real race
    assert await _rows(app) == 1

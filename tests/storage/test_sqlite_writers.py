"""A unit of work on SQLite is one transaction: what it reads does not change under it."""

from __future__ import annotations

import asyncio

from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App


async def test_a_unit_of_work_reads_a_stable_state_while_another_waits_to_write(settings: Settings) -> None:
    app = App(settings)
    await app.database()
    seen: list[set[tuple[str, str]]] = []
    reading = asyncio.Event()

    async def writer() -> None:
        await reading.wait()
        async with app.uow() as uow:
            await uow.ownership.claim("p", "b.test", {("y.b.test", "TXT")})
            await uow.commit()

    writing = asyncio.ensure_future(writer())

    async def reader() -> None:
        async with app.uow() as uow:
            seen.append(await uow.ownership.zones())
            reading.set()
            # the writer starts now; it cannot get through while this transaction is open
            finished, _ = await asyncio.wait({writing}, timeout=0.5)
            assert not finished, "the writer committed inside another unit of work"
            seen.append(await uow.ownership.zones())
            await uow.ownership.claim("p", "a.test", {("x.a.test", "TXT")})
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(reader(), writing), timeout=60)
    assert seen == [set(), set()]  # the writer waited for the reader's transaction; it did not fail
    async with app.uow() as uow:
        assert await uow.ownership.zones() == {("p", "a.test"), ("p", "b.test")}
    await app.close()

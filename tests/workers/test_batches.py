"""Checks go out in batches of one family; each domain's run keeps its own key and is stored once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.monitoring import CheckSchedule, PartlyStoredError, record_results
from email_infrastructure.services.tasks import TASKS, check_key
from email_infrastructure.storage.models import CheckResultRecord, WorkerRunKey
from email_infrastructure.storage.run_keys import RunKeys
from email_infrastructure.workers.queue import SaqQueue
from email_infrastructure.workers.scheduler import Scheduler
from tests.fixtures.pdns import PowerDns
from tests.workers.fleet import store_fleet

DOMAINS = [f"b{i}.batch.test" for i in range(7)]


class Recorder(InProcessQueue):
    """An in-process queue that records the jobs instead of running them (and can fail to enqueue)."""

    def __init__(self, app: App, *, fail: bool = False) -> None:
        super().__init__(app, TASKS)
        self.jobs: list[tuple[str, dict[str, Any], str]] = []
        self.fail = fail

    async def enqueue(self, task_name: str, params: Any, key: str, *, dedup_ttl: int | None = None) -> str | None:
        if self.fail:
            raise ConnectionError("Redis went away")
        self.jobs.append((task_name, dict(params), key))
        return key


async def stored(app: App, subject: str | None = None) -> int:
    async with app.uow() as uow:
        query = select(func.count()).select_from(CheckResultRecord)
        if subject:
            query = query.where(CheckResultRecord.subject == subject)
        return int(await uow.session.scalar(query) or 0)


async def test_the_scheduler_puts_each_due_check_in_exactly_one_batch_of_its_family(app: App) -> None:
    queue = Recorder(app)
    schedule = CheckSchedule({"dns": 900, "tls": 3600}, {"dns": DOMAINS, "tls": DOMAINS[:2]})
    result = await Scheduler(queue, clock=lambda: 5_000_000.0, batch=3).tick(schedule)
    assert result.enqueued == 9 and result.jobs == 4  # dns: 3 + 3 + 1, tls: 2
    assert {name for name, _, _ in queue.jobs} == {"run_checks"}
    by_family: dict[str, list[str]] = {}
    for _, params, _ in queue.jobs:
        assert 1 <= len(params["items"]) <= 3
        by_family.setdefault(params["family"], []).extend(subject for subject, _ in params["items"])
    assert sorted(by_family["dns"]) == sorted(DOMAINS) and sorted(by_family["tls"]) == DOMAINS[:2]
    assert len({key for _, _, key in queue.jobs}) == 4

    # a second scheduler on the same queue, same interval: every check is claimed already
    other = await Scheduler(queue, clock=lambda: 5_000_000.0, batch=3).tick(schedule)
    assert (other.enqueued, other.refused, other.jobs) == (0, 9, 0)


async def test_checks_whose_job_could_not_be_enqueued_are_claimed_again_later(app: App) -> None:
    failing = Recorder(app, fail=True)
    schedule = CheckSchedule({"dns": 900}, {"dns": DOMAINS[:2]})
    with pytest.raises(ConnectionError):
        await Scheduler(failing, clock=lambda: 5_000_000.0).tick(schedule)
    failing.fail = False
    retried = await Scheduler(failing, clock=lambda: 5_000_000.0).tick(schedule)
    assert retried.enqueued == 2 and retried.refused == 0


async def test_two_queues_on_one_redis_claim_disjoint_checks(scale_settings: Settings) -> None:
    queues = [SaqQueue(scale_settings, TASKS) for _ in range(2)]
    keys = [check_key("dns", f"d{i}.batch.test", 7) for i in range(2500)]  # more than one pipeline
    try:
        won = await asyncio.gather(*(q.claim(keys, ttl=60) for q in queues))
        assert sorted(won[0] + won[1]) == sorted(keys)
        assert await queues[0].claim(keys[:10], ttl=60) == []
        await queues[0].release(keys[:10])
        assert await queues[1].claim(keys[:12], ttl=60) == keys[:10]
    finally:
        for q in queues:
            await q.close()


async def test_a_batch_stores_each_domain_once_and_leaves_out_what_was_stored(
    app: App, pdns: PowerDns, tmp_path: Path
) -> None:
    domains = DOMAINS[:3]
    pdns.replace_zones(
        {d: [(d, "TXT", '"v=spf1 -all"', 0), (f"_dmarc.{d}", "TXT", '"v=DMARC1; p=none"', 0)] for d in domains}
    )
    await store_fleet(app, tmp_path, domains, nameserver=f"{pdns.address}:{pdns.dns_port}")
    body = TASKS["run_checks"].body
    # the first domain's run of slot 1 was stored by a job of its own
    await TASKS["run_check"].body(app, job_key=check_key("dns", domains[0], 1), family="dns", subject=domains[0])
    first = await stored(app, domains[0])
    assert first > 0

    items = [[d, 1] for d in [*domains, "gone.batch.test"]]
    outcome = await body(app, job_key="batch:1", family="dns", items=items)
    assert outcome["stored_before"] == [domains[0]] and outcome["gone"] == ["gone.batch.test"]
    assert await stored(app, domains[0]) == first
    assert [await stored(app, d) for d in domains[1:]] == [first, first]

    # the batch delivered again: nothing more
    total = await stored(app)
    again = await body(app, job_key="batch:1", family="dns", items=items)
    assert sorted(again["stored_before"]) == domains and again["results"] == 0
    assert await stored(app) == total
    # the next slot is a new run of every domain
    await body(app, job_key="batch:2", family="dns", items=[[d, 2] for d in domains])
    assert await stored(app) == total + 3 * first


async def test_a_batch_partly_stored_by_a_racing_delivery_stores_nothing(app: App) -> None:
    async with app.uow() as uow:
        assert await RunKeys(uow.session).claim(["run:a"]) == {"run:a"}
        await uow.commit()
    rows = [("a.batch.test", "spf", "ok", {}, "ok"), ("b.batch.test", "spf", "ok", {}, "ok")]
    with pytest.raises(PartlyStoredError):
        await record_results(app, rows, ["run:a", "run:b"])
    assert await stored(app) == 0
    async with app.uow() as uow:
        keys = (await uow.session.scalars(select(WorkerRunKey.key))).all()
    assert keys == ["run:a"]  # run:b's claim went with the rollback: its retry stores it
    assert await record_results(app, rows[1:], ["run:b"]) != [] and await stored(app) == 1

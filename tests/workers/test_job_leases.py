"""The API's jobs under a lease (how queue workers run them): one run claims a job, a live lease
keeps other deliveries out, a lapsed one lets a new run take the job over, a finished job stays done."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from email_infrastructure.services import jobs
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import JobView, get_job
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.queue import Report, TaskSpec
from email_infrastructure.storage.api_repositories import Jobs
from email_infrastructure.storage.models import utcnow


class Delivered(InProcessQueue):
    """Takes submits without running them: the test delivers each run itself, as a queue's worker would."""

    async def enqueue(self, task_name: str, params: Any, key: str, *, dedup_ttl: int | None = None) -> str | None:
        return key


@pytest.fixture
def calls() -> list[dict[str, Any]]:
    """The params each run of the `effect` job was called with."""
    return []


@pytest.fixture
def task(calls: list[dict[str, Any]]) -> TaskSpec:
    """A job-row task whose body records its calls (any job-row task is leased alike, not only apply)."""

    async def body(app: App, *, progress: Report, resumed: bool, **params: Any) -> dict[str, Any]:
        calls.append({**params, "resumed": resumed})
        progress("step")
        return {"runs": len(calls)}

    return TaskSpec("effect", body, timeout=60, heartbeat=30, job_row=True)


async def submit(app: App, task: TaskSpec) -> JobView:
    job, _ = await jobs.submit(app, Delivered(app, {task.name: task}), task.name, {"checksum": "x"}, key_name="k")
    return job


async def run_job(app: App, task: TaskSpec, job_id: str) -> JobView:
    """One delivery of the job to a worker (lease 30 s), and the row as it left it."""
    await jobs.run_job(app, task=task, job_key=job_id, job_id=job_id, lease=30)
    return await get_job(app, job_id)


async def set_row(app: App, job_id: str, **values: Any) -> None:
    async with app.uow() as uow:
        row = await Jobs(uow.session).get(job_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        await uow.commit()


async def test_a_delivered_job_runs_once_and_a_second_delivery_does_nothing(
    app: App, task: TaskSpec, calls: list[dict[str, Any]]
) -> None:
    job = await submit(app, task)
    first = await run_job(app, task, job.id)
    assert first.status == "succeeded" and first.result == {"runs": 1}
    again = await run_job(app, task, job.id)
    assert again.status == "succeeded" and again.result == {"runs": 1} and len(calls) == 1
    assert calls[0]["resumed"] is False


async def test_two_deliveries_at_once_run_the_job_once(app: App, task: TaskSpec, calls: list[dict[str, Any]]) -> None:
    job = await submit(app, task)
    done = await asyncio.gather(run_job(app, task, job.id), run_job(app, task, job.id))
    assert [d.status for d in done] == ["succeeded", "succeeded"] and len(calls) == 1


async def test_a_job_whose_lease_ran_out_is_taken_over_and_resumed(
    app: App, task: TaskSpec, calls: list[dict[str, Any]]
) -> None:
    job = await submit(app, task)
    # what a killed worker leaves: running, its lease past
    past = utcnow() - timedelta(seconds=5)
    await set_row(app, job.id, status="running", started_at=past, lease_until=past)
    done = await run_job(app, task, job.id)
    assert done.status == "succeeded" and len(calls) == 1
    assert calls[0]["resumed"] is True  # an apply re-plans what is left instead of checking the checksum
    row = await get_job(app, job.id)
    assert row.params == {"checksum": "x"}  # the row's params are untouched
    assert row.started_at is not None and abs((row.started_at - past).total_seconds()) < 1  # the first start


async def test_a_job_under_a_live_lease_is_left_to_its_run(
    app: App, task: TaskSpec, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = await submit(app, task)
    await set_row(app, job.id, status="running", started_at=utcnow(), lease_until=utcnow() + timedelta(hours=1))
    tries: list[bool] = []
    claim = jobs._claim

    async def counted(*args: Any) -> bool:
        tries.append(await claim(*args))
        return tries[-1]

    monkeypatch.setattr(jobs, "_claim", counted)
    monkeypatch.setattr(jobs, "HEARTBEAT_EVERY", 0.01)  # it looks at the row again at once
    waiting = asyncio.create_task(run_job(app, task, job.id))
    async with asyncio.timeout(30):
        while len(tries) < 3:  # a few of its looks at the row, each refused
            await asyncio.sleep(0.01)
    assert tries[:3] == [False] * 3 and not waiting.done() and calls == []
    await set_row(app, job.id, status="succeeded", finished_at=utcnow(), result={"by": "the other run"})
    finished = await asyncio.wait_for(waiting, 30)
    assert finished.result == {"by": "the other run"} and calls == []

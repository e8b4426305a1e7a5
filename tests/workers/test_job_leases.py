"""The API's jobs under a lease (how queue workers run them): one run claims a job, a live lease
keeps other deliveries out, a lapsed one lets a new run take the job over, a finished job stays done."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from email_infrastructure.services import jobs
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import get_job, run_job, submit
from email_infrastructure.storage.api_repositories import Jobs
from email_infrastructure.storage.models import utcnow


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The params each run of an `apply` job was called with (the body records, no DNS)."""
    seen: list[dict[str, Any]] = []

    async def body(app: App, params: dict[str, Any], report: Any) -> tuple[bool, dict[str, Any], str | None]:
        seen.append(params)
        report("step")
        return True, {"runs": len(seen)}, None

    monkeypatch.setitem(jobs.HANDLERS, "apply", body)
    return seen


async def set_row(app: App, job_id: str, **values: Any) -> None:
    async with app.uow() as uow:
        row = await Jobs(uow.session).get(job_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        await uow.commit()


async def test_a_delivered_job_runs_once_and_a_second_delivery_does_nothing(
    app: App, calls: list[dict[str, Any]]
) -> None:
    job, _ = await submit(app, "apply", {"checksum": "sha256:x"}, key_name="k")
    first = await run_job(app, job.id, lease=30)
    assert first.status == "succeeded" and first.result == {"runs": 1}
    again = await run_job(app, job.id, lease=30)
    assert again.status == "succeeded" and again.result == {"runs": 1} and len(calls) == 1
    assert "resumed" not in calls[0]


async def test_two_deliveries_at_once_run_the_job_once(app: App, calls: list[dict[str, Any]]) -> None:
    job, _ = await submit(app, "apply", {"checksum": "sha256:x"}, key_name="k")
    done = await asyncio.gather(run_job(app, job.id, lease=30), run_job(app, job.id, lease=30))
    assert [d.status for d in done] == ["succeeded", "succeeded"] and len(calls) == 1


async def test_a_job_whose_lease_ran_out_is_taken_over_and_resumed(app: App, calls: list[dict[str, Any]]) -> None:
    job, _ = await submit(app, "apply", {"checksum": "sha256:x"}, key_name="k")
    # what a killed worker leaves: running, its lease past
    past = utcnow() - timedelta(seconds=5)
    await set_row(app, job.id, status="running", started_at=past, lease_until=past)
    done = await run_job(app, job.id, lease=30)
    assert done.status == "succeeded" and len(calls) == 1
    assert calls[0]["resumed"] is True  # the apply re-plans what is left instead of checking the checksum
    row = await get_job(app, job.id)
    assert row.params == {"checksum": "sha256:x"}  # the row's params are untouched
    assert row.started_at is not None and abs((row.started_at - past).total_seconds()) < 1  # the first start


async def test_a_job_under_a_live_lease_is_left_to_its_run(
    app: App, calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    job, _ = await submit(app, "apply", {"checksum": "sha256:x"}, key_name="k")
    await set_row(app, job.id, status="running", started_at=utcnow(), lease_until=utcnow() + timedelta(hours=1))
    tries: list[bool] = []
    claim = jobs._claim

    async def counted(*args: Any) -> bool:
        tries.append(await claim(*args))
        return tries[-1]

    monkeypatch.setattr(jobs, "_claim", counted)
    monkeypatch.setattr(jobs, "HEARTBEAT_EVERY", 0.01)  # it looks at the row again at once
    waiting = asyncio.create_task(run_job(app, job.id, lease=30))
    async with asyncio.timeout(30):
        while len(tries) < 3:  # a few of its looks at the row, each refused
            await asyncio.sleep(0.01)
    assert tries[:3] == [False] * 3 and not waiting.done() and calls == []
    await set_row(app, job.id, status="succeeded", finished_at=utcnow(), result={"by": "the other run"})
    finished = await asyncio.wait_for(waiting, 30)
    assert finished.result == {"by": "the other run"} and calls == []

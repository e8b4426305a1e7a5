"""services/jobs.py: idempotent submit, the generic job-row wrapper on a test task, jobs a stopped process left."""

from __future__ import annotations

from typing import Any

import pytest

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.services import jobs
from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.queue import JobFailed, Report, TaskSpec


class Echo:
    """A job-row task's body: records its calls, reports progress, answers with its parameters."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, app: App, *, progress: Report, resumed: bool, n: int, fail: str = "") -> dict[str, Any]:
        self.calls.append({"n": n, "resumed": resumed})
        progress(f"step of {n}")
        if fail == "raise":
            raise RuntimeError("password=hunter2 in a traceback")
        if fail == "refuse":
            raise UserError("refused: the world moved on")
        if fail == "result":
            raise JobFailed("1 step(s) failed: x", {"partial": n})
        return {"echo": n}


class Stopped(InProcessQueue):
    """A queue whose process stopped between a submit's commit and its enqueue."""

    async def enqueue(self, task_name: str, params: Any, key: str, *, dedup_ttl: int | None = None) -> str | None:
        return None


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def queue(app: App, echo: Echo) -> InProcessQueue:
    """An in-process queue knowing the test task `echo` (keeps a job row) and a plain one."""

    async def plain(app: App, *, job_key: str) -> dict[str, Any]:
        return {}

    return InProcessQueue(
        app,
        {
            "echo": TaskSpec("echo", echo, timeout=30, heartbeat=30, job_row=True),
            "plain": TaskSpec("plain", plain, timeout=30, heartbeat=30),
        },
    )


async def test_submit_with_a_job_key_returns_the_first_job_and_runs_it_once(
    app: App, queue: InProcessQueue, echo: Echo
) -> None:
    first, created = await jobs.submit(app, queue, "echo", {"n": 1}, key_name="k", job_key="echo:1")
    second, again = await jobs.submit(app, queue, "echo", {"n": 2}, key_name="k", job_key="echo:1")
    assert created and not again and second.id == first.id and second.params == {"n": 1}
    await queue.join()
    done = await jobs.get_job(app, first.id)
    assert (done.kind, done.status, done.result, done.error) == ("echo", "succeeded", {"echo": 1}, None)
    assert done.progress == {"steps": 1, "last": "step of 1"} and done.started_at and done.finished_at
    assert echo.calls == [{"n": 1, "resumed": False}]
    with pytest.raises(UserError, match="unknown task 'reboot'"):
        await jobs.submit(app, queue, "reboot", {}, key_name="k")
    with pytest.raises(UserError, match="keeps no job row"):
        await jobs.submit(app, queue, "plain", {}, key_name="k")
    with pytest.raises(NotFoundError):
        await jobs.get_job(app, "nope")


@pytest.mark.parametrize(
    ("fail", "result", "error"),
    [
        ("raise", None, "internal error: RuntimeError"),  # no internals (nor secrets) in the row
        ("refuse", None, "refused: the world moved on"),
        ("result", {"partial": 3}, "1 step(s) failed: x"),  # a failure with a result keeps it
    ],
)
async def test_a_task_that_fails_fails_its_job_once_without_a_retry(
    app: App, queue: InProcessQueue, echo: Echo, fail: str, result: dict[str, Any] | None, error: str
) -> None:
    job, _ = await jobs.submit(app, queue, "echo", {"n": 3, "fail": fail}, key_name="k")
    await queue.join()
    finished = await jobs.get_job(app, job.id)
    assert (finished.status, finished.result, finished.error) == ("failed", result, error)
    assert len(echo.calls) == 1  # the job row records the failure: the queue does not run it again


async def test_a_restarted_process_runs_queued_jobs_and_fails_ones_it_left_running(
    app: App, queue: InProcessQueue, echo: Echo
) -> None:
    stopped = Stopped(app, queue.tasks)  # the process committed the rows, then stopped before running them
    left_queued, _ = await jobs.submit(app, stopped, "echo", {"n": 1}, key_name="k")
    left_running, _ = await jobs.submit(app, stopped, "echo", {"n": 2}, key_name="k")
    await jobs._update(app, left_running.id, status="running")  # its process died mid-run

    await jobs.recover(app, queue)
    await queue.join()
    done = await jobs.get_job(app, left_queued.id)
    assert (done.status, done.result) == ("succeeded", {"echo": 1})
    dead = await jobs.get_job(app, left_running.id)
    assert dead.status == "failed" and "interrupted" in (dead.error or "")
    assert echo.calls == [{"n": 1, "resumed": False}]  # the interrupted one is not re-run behind anyone's back

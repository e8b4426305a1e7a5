"""services/local_queue.py: the in-process queue's retries, dedup and bounded results, with an injected sleep."""

from __future__ import annotations

from typing import Any

from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.queue import TaskSpec


class Sleeps:
    """An injected sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def flaky_queue(app: App, calls: list[str], sleeps: Sleeps) -> InProcessQueue:
    async def flaky(app: App, *, job_key: str, fail_times: int) -> dict[str, Any]:
        calls.append(job_key)
        if len(calls) <= fail_times:
            raise RuntimeError("vendor away")
        return {"calls": len(calls)}

    tasks = {"flaky": TaskSpec("flaky", flaky, timeout=5, heartbeat=5, retries=3, retry_delay=2.0)}
    return InProcessQueue(app, tasks, sleep=sleeps)


async def test_a_failing_task_is_retried_with_growing_waits_then_succeeds(app: App) -> None:
    calls: list[str] = []
    sleeps = Sleeps()
    queue = flaky_queue(app, calls, sleeps)
    assert await queue.enqueue("flaky", {"fail_times": 2}, "flaky:1") == "flaky:1"
    assert await queue.enqueue("flaky", {"fail_times": 2}, "flaky:1") is None  # the key was enqueued already
    await queue.join()
    assert queue.results["flaky:1"] == {"status": "complete", "result": {"calls": 3}}
    assert sleeps.waits == [2.0, 4.0]  # retry_delay * attempt, as saq's backoff


async def test_no_wait_after_the_last_attempt(app: App) -> None:
    calls: list[str] = []
    sleeps = Sleeps()
    queue = flaky_queue(app, calls, sleeps)
    await queue.enqueue("flaky", {"fail_times": 5}, "flaky:2")
    await queue.join()
    assert queue.results["flaky:2"]["status"] == "failed" and "vendor away" in queue.results["flaky:2"]["error"]
    assert len(calls) == 3  # runs in all, as on saq
    assert sleeps.waits == [2.0, 4.0]  # between the attempts only: nothing after the third


async def test_the_in_process_queue_keeps_a_bounded_number_of_results(app: App) -> None:
    async def quick(app: App, *, job_key: str) -> dict[str, Any]:
        return {"key": job_key}

    queue = InProcessQueue(app, {"quick": TaskSpec("quick", quick, timeout=5, heartbeat=5)}, keep_results=3)
    for i in range(5):
        await queue.enqueue("quick", {}, f"quick:{i}")
    await queue.join()
    assert list(queue.results) == ["quick:2", "quick:3", "quick:4"]

"""Several `email-infra worker` processes on the real Redis and PostgreSQL: at-least-once delivery,
effects once, SIGKILL mid-job, SIGTERM, and events from every worker reaching a subscriber."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from sqlalchemy import text

from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.services.app import App
from email_infrastructure.workers.events import StreamGroupReader
from email_infrastructure.workers.queue import SaqQueue
from email_infrastructure.workers.worker import load_tasks
from tests.workers.conftest import TEST_TASKS, Processes, exited, until
from tests.workers.effect_tasks import EFFECTS_TABLE


def make_queue(app: App, queue: str = "default") -> SaqQueue:
    """The queue the test enqueues on, with the test task bodies known."""
    return SaqQueue(app.settings, load_tasks((TEST_TASKS,)), queue)


async def effects(app: App) -> list[tuple[str, int]]:
    """The effect rows the test task stored."""
    async with app.uow() as uow:
        rows = await uow.session.execute(text("SELECT job_key, pid FROM worker_test_effects ORDER BY job_key"))
        return [(str(k), int(p)) for k, p in rows.all()]


async def create_effects_table(app: App) -> None:
    async with app.uow() as uow:
        await uow.session.execute(text(EFFECTS_TABLE))
        await uow.commit()


async def test_a_job_whose_worker_is_killed_completes_on_another_worker_once(
    scale_app: App, processes: Processes, tmp_path: Path
) -> None:
    await create_effects_table(scale_app)
    queue = make_queue(scale_app)
    markers = tmp_path / "markers"
    markers.mkdir()
    try:
        key = "effect:killed-mid-job"
        assert await queue.enqueue("record_effect", {"seconds": 3.0, "marker_dir": str(markers)}, key) == key
        first = processes.worker("--concurrency", "1")
        await until(lambda: asyncio.to_thread(lambda: (markers / f"started-{first.pid}").exists()), "the first run")
        first.send_signal(signal.SIGKILL)
        assert await exited(first) == -signal.SIGKILL
        assert await effects(scale_app) == []  # killed before its effect

        second = processes.worker("--concurrency", "1")

        async def complete() -> bool:
            status = await queue.status(key)
            return status is not None and status["status"] == "complete"

        try:
            await until(complete, "the job to complete on the second worker")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: job {await queue.status(key)}; {processes.output(second)}") from None
        status = await queue.status(key)
        assert status is not None
        assert status["attempts"] >= 2, status  # a slow heartbeat under load may cost one more delivery
        assert await effects(scale_app) == [(key, second.pid)]

        second.send_signal(signal.SIGTERM)
        assert await exited(second) == 0, processes.output(second)
    finally:
        await queue.close()


async def test_a_job_delivered_again_after_its_effect_stores_nothing_more(
    scale_app: App, processes: Processes, tmp_path: Path
) -> None:
    # A worker that dies between its commit and telling the queue: the job runs again elsewhere.
    await create_effects_table(scale_app)
    queue = make_queue(scale_app)
    try:
        key = "effect:twice"
        await queue.enqueue("record_effect", {"seconds": 0.0, "marker_dir": str(tmp_path)}, key)
        first = processes.worker("--burst")
        assert await exited(first) == 0, processes.output(first)
        # the same job delivered once more (what the sweep does for a worker it took for dead)
        job = await queue.queue.job(key)
        assert job is not None
        await queue.queue.retry(job, "delivered again")
        second = processes.worker("--burst")
        assert await exited(second) == 0, processes.output(second)
        status = await queue.status(key)
        assert status is not None and status["attempts"] >= 2  # a sweep may deliver it once more (saq#124)
        assert status["result"] == {"stored": False}
        assert await effects(scale_app) == [(key, first.pid)]
    finally:
        await queue.close()


async def test_a_key_is_enqueued_once_even_after_its_job_finished(scale_app: App, processes: Processes) -> None:
    queue = make_queue(scale_app)
    try:
        assert await queue.enqueue("emit_event", {}, "event:once") == "event:once"
        worker = processes.worker("--burst")
        assert await exited(worker) == 0, processes.output(worker)
        assert (await queue.status("event:once") or {}).get("status") == "complete"
        assert await queue.enqueue("emit_event", {}, "event:once") is None
    finally:
        await queue.close()


async def test_events_from_two_workers_reach_one_subscriber_once_each(scale_app: App, processes: Processes) -> None:
    settings = scale_app.settings
    received: list[Event] = []
    bus = EventBus()
    bus.subscribe("test.worker.*", received.append)
    reader = StreamGroupReader(settings, "alerts", "subscriber-1")
    await reader.ensure_group()
    queues = {name: make_queue(scale_app, name) for name in ("a", "b")}
    try:
        for name, queue in queues.items():
            for i in range(5):
                await queue.enqueue("emit_event", {}, f"event:{name}:{i}")
        workers = [processes.worker("--burst", "--queue", name) for name in queues]
        for worker in workers:
            assert await exited(worker) == 0, processes.output(worker)
        stop = asyncio.Event()

        async def all_received() -> bool:
            for entry_id, event in await reader.read(block_ms=100):
                await bus.publish(event)
                await reader.ack(entry_id)
            return len(received) >= 10

        await until(all_received, "ten events")
        await asyncio.sleep(0)  # nothing more is pending: a second read returns no duplicate
        assert await reader.read(block_ms=100) == []
        stop.set()
        jobs = sorted(str(e.payload["job"]) for e in received)
        assert jobs == sorted(f"event:{n}:{i}" for n in ("a", "b") for i in range(5))
        assert {int(e.payload["pid"]) for e in received} == {w.pid for w in workers}
    finally:
        await reader.close()
        for queue in queues.values():
            await queue.close()


async def test_consumers_of_one_group_share_the_events_without_overlap(scale_app: App, processes: Processes) -> None:
    # two alert-sink processes: each alert goes to one of them
    queue = make_queue(scale_app)
    readers = [StreamGroupReader(scale_app.settings, "sinks", f"sink-{i}") for i in range(2)]
    try:
        await readers[0].ensure_group()
        for i in range(8):
            await queue.enqueue("emit_event", {}, f"event:shared:{i}")
        worker = processes.worker("--burst")
        assert await exited(worker) == 0, processes.output(worker)
        handled: list[list[str]] = [[], []]
        for _ in range(8):  # alternate: each read takes at most one entry
            for index, reader in enumerate(readers):
                for entry_id, event in await reader.read(count=1, block_ms=100):
                    handled[index].append(str(event.payload["job"]))
                    await reader.ack(entry_id)
        assert sorted(handled[0] + handled[1]) == sorted(f"event:shared:{i}" for i in range(8))
        assert not set(handled[0]) & set(handled[1])
        assert handled[0] and handled[1]
    finally:
        for reader in readers:
            await reader.close()
        await queue.close()


async def test_a_dashboard_tailing_the_stream_sees_every_workers_events(scale_app: App, processes: Processes) -> None:
    from email_infrastructure.workers.events import tail

    queue = make_queue(scale_app)
    stop = asyncio.Event()
    seen: list[str] = []

    async def watch() -> None:
        async for event in tail(scale_app.settings, stop, last_id="0"):
            seen.append(str(event.payload["job"]))
            if len(seen) == 3:
                stop.set()

    try:
        for i in range(3):
            await queue.enqueue("emit_event", {}, f"event:tail:{i}")
        worker = processes.worker("--burst")
        assert await exited(worker) == 0, processes.output(worker)
        await asyncio.wait_for(watch(), 60)
        assert sorted(seen) == [f"event:tail:{i}" for i in range(3)]
    finally:
        await queue.close()


async def test_the_health_check_says_whether_redis_answers(scale_app: App, processes: Processes) -> None:
    healthy = processes.start("worker", "--check")
    assert await exited(healthy) == 0, processes.output(healthy)
    # a port nothing listens on: unhealthy, and it says why
    unhealthy = processes.start("worker", "--check", REDIS_URL="redis://127.0.0.1:9/0")
    assert await exited(unhealthy) == 1
    assert "unhealthy: redis" in processes.output(unhealthy)

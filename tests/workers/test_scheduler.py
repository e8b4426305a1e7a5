"""Two `email-infra scheduler` processes on one Redis: each check is enqueued once per interval."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.monitoring import check_schedule
from email_infrastructure.services.tasks import TASKS, check_key
from email_infrastructure.workers.queue import SaqQueue
from email_infrastructure.workers.scheduler import Scheduler, offset, slot
from tests.workers.conftest import Processes, exited, until
from tests.workers.fleet import steady_domains, store_fleet

DOMAINS = ["one.fleet.test", "two.fleet.test", "three.fleet.test"]
#: the families a domain without a mail backend gets (mailbox checks need one)
FAMILIES = ["blacklist", "delegation", "dns", "ptr", "registration", "tls"]


async def test_two_schedulers_enqueue_each_check_once(scale_app: App, processes: Processes, tmp_path: Path) -> None:
    domains = steady_domains(len(DOMAINS))  # no slot begins while the schedulers run
    await store_fleet(scale_app, tmp_path, domains)
    first = processes.start("scheduler", "--once", "--json")
    second = processes.start("scheduler", "--once", "--json")
    assert await exited(first) == 0, processes.output(first)
    assert await exited(second) == 0, processes.output(second)
    outputs = [json.loads(processes.output(p)) for p in (first, second)]
    keys = [key for out in outputs for key in out["keys"]]
    assert len(keys) == len(domains) * len(FAMILIES)
    assert len(set(keys)) == len(keys)  # no check enqueued by both
    assert sum(out["already_queued"] for out in outputs) == len(domains) * len(FAMILIES)
    assert {k.split(":")[1] for k in keys} == set(FAMILIES)
    assert {k.split(":")[2] for k in keys} == set(domains)

    jobs = sum(out["jobs"] for out in outputs)
    assert len(FAMILIES) <= jobs <= len(keys)  # batches of one family: each scheduler's own
    queue = SaqQueue(scale_app.settings, TASKS)
    try:
        assert await queue.queue.count("queued") == jobs
        # a third scheduler in the same intervals finds everything enqueued
        third = processes.start("scheduler", "--once", "--json")
        assert await exited(third) == 0, processes.output(third)
        assert json.loads(processes.output(third))["enqueued"] == 0
        assert await queue.queue.count("queued") == jobs
    finally:
        await queue.close()


async def test_the_scheduler_stops_on_sigterm(scale_app: App, processes: Processes, tmp_path: Path) -> None:
    await store_fleet(scale_app, tmp_path, DOMAINS[:1])
    scheduler = processes.start("scheduler", "--tick", "0.5")
    queue = SaqQueue(scale_app.settings, TASKS)
    try:
        await until(lambda: queue.queue.count("queued"), "the first tick")
    finally:
        await queue.close()
    scheduler.send_signal(signal.SIGTERM)
    assert await exited(scheduler) == 0, processes.output(scheduler)


async def test_a_new_interval_enqueues_the_check_again_with_a_new_key(app: App, tmp_path: Path) -> None:
    await store_fleet(app, tmp_path, DOMAINS[:1], dns_interval=900)
    schedule = await check_schedule(app)
    now = [1_000_000.0]
    queue = InProcessQueue(app, {})  # nothing runs: the checks are claimed by key
    enqueued: list[str] = []

    async def record(task_name: str, params: dict[str, Any], key: str, *, dedup_ttl: int | None = None) -> str:
        enqueued.extend(check_key(params["family"], subject, number) for subject, number in params["items"])
        return key

    queue.enqueue = record  # type: ignore[method-assign]  # count the checks instead of running them
    scheduler = Scheduler(queue, clock=lambda: now[0])
    first = await scheduler.tick(schedule)
    assert first.enqueued == len(FAMILIES)
    assert (await scheduler.tick(schedule)).enqueued == 0  # same interval: nothing new
    now[0] += 900
    later = await scheduler.tick(schedule)
    dns_keys = [k for k in enqueued if k.startswith("check:dns:")]
    assert len(dns_keys) == 2 and dns_keys[0] != dns_keys[1]
    assert dns_keys[1] in later.keys
    assert len(enqueued) == len(set(enqueued))
    shift = offset("dns", DOMAINS[0], 900)
    assert dns_keys == [check_key("dns", DOMAINS[0], slot(t, 900, shift)) for t in (1_000_000.0, 1_000_900.0)]

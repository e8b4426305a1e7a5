"""services/tasks.py: every task is declared once and both queues (and the saq worker) know it by that one line."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.workers.queue import SaqQueue
from email_infrastructure.workers.worker import WorkerOptions, build_worker
from tests.workers.conftest import REDIS_URL


async def test_each_task_is_declared_once_and_known_to_both_queues_and_the_worker(app: App, settings: Settings) -> None:
    scaled = settings.model_copy(update={"redis_url": REDIS_URL})
    local, saq = InProcessQueue(app), SaqQueue(scaled)  # neither connects to anything yet
    try:
        assert set(TASKS) == {"apply", "apply_plan", "recheck", "run_check", "run_checks"}
        for name, spec in TASKS.items():
            assert local.tasks[name] is spec and saq.tasks[name] is spec
        worker = build_worker(scaled, WorkerOptions())
        assert set(TASKS) <= set(worker.functions)
        assert [n for n, s in TASKS.items() if s.job_row] == ["apply", "recheck"]
    finally:
        await saq.close()


async def test_an_unknown_task_is_a_clear_error_on_both_queues(app: App, settings: Settings) -> None:
    saq = SaqQueue(settings.model_copy(update={"redis_url": REDIS_URL}))
    try:
        for queue in (InProcessQueue(app), saq):
            with pytest.raises(
                UserError, match=r"unknown task 'reboot' \(known: apply, apply_plan, recheck, run_check, run_checks\)"
            ):
                await queue.enqueue("reboot", {}, "reboot:1")
    finally:
        await saq.close()

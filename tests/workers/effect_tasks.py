"""Task bodies for the worker tests, registered with `email-infra worker --tasks tests.workers.effect_tasks`.

Each records what it did in the test's database or on the fake vendor, so a test can count effects.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from email_infrastructure.core.cache import shared_limiter
from email_infrastructure.core.events import Topic
from email_infrastructure.core.http import RetryPolicy, VendorClient
from email_infrastructure.services.app import App
from email_infrastructure.services.queue import TaskSpec
from email_infrastructure.storage.run_keys import RunKeys

WORKER_RAN: Topic[dict[str, Any]] = Topic("test.worker.ran", dict)
EFFECTS_TABLE = "CREATE TABLE worker_test_effects (job_key TEXT NOT NULL, pid INTEGER NOT NULL)"


async def record_effect(app: App, *, job_key: str, seconds: float, marker_dir: str) -> dict[str, Any]:
    """Say it started (a file named after this process), work a while, then store one effect row
    keyed by the job key, the way the real task bodies store their results."""
    Path(marker_dir, f"started-{os.getpid()}").touch()
    await asyncio.sleep(seconds)
    async with app.uow() as uow:
        if not await RunKeys(uow.session).claim([job_key]):
            return {"stored": False}
        await uow.session.execute(
            text("INSERT INTO worker_test_effects (job_key, pid) VALUES (:key, :pid)"),
            {"key": job_key, "pid": os.getpid()},
        )
        await uow.commit()
    return {"stored": True, "pid": os.getpid()}


async def emit_event(app: App, *, job_key: str, seconds: float = 0.0) -> dict[str, Any]:
    """Publish one event on this process's bus (the worker bridges it to the Redis stream)."""
    await asyncio.sleep(seconds)
    await app.bus.emit(WORKER_RAN, {"job": job_key, "pid": os.getpid()}, source="test")
    return {"pid": os.getpid()}


async def call_vendor(
    app: App, *, job_key: str, url: str, requests: int, capacity: int, period: float
) -> dict[str, Any]:
    """Send `requests` GETs to the fake vendor through the shared limiter of its account."""
    limiter = shared_limiter("fake-vendor:account-1", capacity, period)
    assert limiter is not None, "the worker installs the shared Redis tier"
    async with VendorClient(url, rate_limiter=limiter, retry=RetryPolicy(attempts=1)) as client:
        for _ in range(requests):
            response = await client.request("GET", "/ping")
            response.raise_for_status()
    return {"sent": requests}


TASKS = {
    spec.name: spec
    for spec in (
        TaskSpec("record_effect", record_effect, timeout=60, heartbeat=5, retries=4, retry_delay=0.1),
        TaskSpec("emit_event", emit_event, timeout=30, heartbeat=5, retries=2),
        TaskSpec("call_vendor", call_vendor, timeout=120, heartbeat=5, retries=1),
    )
}

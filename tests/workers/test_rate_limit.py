"""A per-account rate limit held across worker processes, against a fake vendor that counts requests."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from email_infrastructure.core.redis import SharedRateLimiter
from email_infrastructure.services.app import App
from email_infrastructure.workers.queue import SaqQueue
from email_infrastructure.workers.worker import load_tasks
from tests.fakes.http_server import FakeServer
from tests.workers.conftest import REDIS_URL, TEST_TASKS, Processes, exited

CAPACITY = 3
PERIOD = 2.0


class CountingVendor:
    """Answers 429 like a vendor once more than CAPACITY requests arrived within its window."""

    def __init__(self, capacity: int, window: float) -> None:
        self.capacity = capacity
        self.window = window
        self.arrivals: list[float] = []
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(
        self, method: str, path: str, query: Any, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self.arrivals if now - t < self.window]
            self.arrivals.append(now)
            if len(recent) >= self.capacity:
                self.refused += 1
                return 429, {"Retry-After": "1", "Content-Type": "application/json"}, b'{"error": "rate limited"}'
        return 200, {"Content-Type": "application/json"}, b'{"ok": true}'


async def test_two_workers_share_one_accounts_limit(scale_app: App, processes: Processes) -> None:
    # The vendor's window is half the limit's: a request the limiter allowed may reach the vendor
    # up to a second later on a loaded machine (with 0.9 of the window, 0.2 s of delay made a 429).
    # Two workers each with a budget of their own would still send 6 requests at once: refused.
    vendor = CountingVendor(CAPACITY, PERIOD * 0.5)
    queues = {name: SaqQueue(scale_app.settings, load_tasks((TEST_TASKS,)), name) for name in ("a", "b")}
    try:
        with FakeServer(vendor) as server:
            params = {"url": server.url, "requests": 4, "capacity": CAPACITY, "period": PERIOD}
            for name, queue in queues.items():
                await queue.enqueue("call_vendor", params, f"vendor:{name}")
            workers = [processes.worker("--burst", "--queue", name) for name in queues]
            for worker in workers:
                assert await exited(worker, 120) == 0, processes.output(worker)
        for name, queue in queues.items():
            status = await queue.status(f"vendor:{name}")
            assert status is not None and status["result"] == {"sent": 4}, status
        assert len(vendor.arrivals) == 8
        assert vendor.refused == 0
    finally:
        for queue in queues.values():
            await queue.close()


async def test_limiters_of_one_name_share_the_budget(redis_prefix: str) -> None:
    first = SharedRateLimiter(REDIS_URL, redis_prefix, "acct", 2, 60)
    second = SharedRateLimiter(REDIS_URL, redis_prefix, "acct", 2, 60)
    other = SharedRateLimiter(REDIS_URL, redis_prefix, "another-acct", 2, 60)
    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)
        raise TimeoutError  # the third request would have to wait: stop there

    await first.acquire(no_wait)
    await second.acquire(no_wait)
    await other.acquire(no_wait)  # its own budget
    with pytest.raises(TimeoutError):
        await first.acquire(no_wait)
    assert len(waits) == 1 and 0 < waits[0] <= 60

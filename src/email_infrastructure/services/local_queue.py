"""The in-process queue (the embedded default, without REDIS_URL): tasks run as asyncio tasks of this process.

Same task bodies, same retries and dedup as saq (`workers/queue.py`): a failed run is retried
after `retry_delay * attempt` seconds, `retries` runs in all, and nothing waits after the last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import entry
from email_infrastructure.services.queue import TaskSpec, in_workspace, spec_of
from email_infrastructure.services.tasks import TASKS

_log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class InProcessQueue:
    """Tasks as asyncio tasks of this process, at most `concurrency` at a time."""

    local = True

    def __init__(
        self,
        app: App,
        tasks: Mapping[str, TaskSpec] | None = None,
        *,
        concurrency: int = 8,
        keep_results: int = 10_000,
        grace: float = 10.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.app = app
        self.tasks: Mapping[str, TaskSpec] = dict(TASKS if tasks is None else tasks)
        self.grace = grace
        self._sleep = sleep
        self._seen: dict[str, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        #: job key → result or error of the latest finished runs; bounded, as a scheduler running for
        #: months would otherwise keep every run
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.keep_results = keep_results

    async def enqueue(
        self, task_name: str, params: Mapping[str, Any], key: str, *, dedup_ttl: int | None = None
    ) -> str | None:
        """Start the task now (bounded by `concurrency`); None when the key was enqueued recently."""
        spec = spec_of(self.tasks, task_name)
        if not await self.claim([key], dedup_ttl or spec.dedup_ttl):
            return None
        # the workspace travels as a parameter, as on saq (not only as this task's inherited context)
        run = self._run(spec, in_workspace(params, self.app.settings.workspace), key)
        task = asyncio.get_running_loop().create_task(run, name=f"task-{key}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return key

    async def claim(self, keys: Sequence[str], ttl: int) -> list[str]:
        """The keys not seen within their TTL, now marked for `ttl` seconds."""
        now = time.monotonic()
        if len(self._seen) > 2 * self.keep_results:  # forget keys whose TTL ran out
            self._seen = {k: until for k, until in self._seen.items() if until > now}
        claimed = []
        for key in keys:
            if self._seen.get(key, -1.0) <= now:
                self._seen[key] = now + ttl
                claimed.append(key)
        return claimed

    async def release(self, keys: Sequence[str]) -> None:
        """Forget the keys."""
        for key in keys:
            self._seen.pop(key, None)

    async def _run(self, spec: TaskSpec, params: dict[str, Any], key: str) -> None:
        run = entry(spec)
        async with self._slots:
            for attempt in range(1, spec.retries + 1):
                try:
                    result = await asyncio.wait_for(run(self.app, job_key=key, **params), spec.timeout)
                except Exception as exc:  # a failed run is retried like on the queue, then recorded
                    _log.warning("task %s (%s) attempt %d failed: %s", spec.name, key, attempt, exc)
                    self._keep(key, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
                    if attempt < spec.retries:  # after the last attempt there is nothing to wait for
                        await self._sleep(spec.retry_delay * attempt)
                    continue
                self._keep(key, {"status": "complete", "result": result})
                return

    def _keep(self, key: str, outcome: dict[str, Any]) -> None:
        self.results[key] = outcome
        self.results.move_to_end(key)
        while len(self.results) > self.keep_results:
            self.results.popitem(last=False)

    async def ready(self) -> None:
        """Always ready: nothing to connect to."""

    async def join(self) -> None:
        """Wait until every enqueued task has finished (tests, `--once` runs)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    async def close(self) -> None:
        """Wait up to `grace` seconds for running tasks, then cancel them."""
        if not self._running:
            return
        _done, pending = await asyncio.wait(set(self._running), timeout=self.grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

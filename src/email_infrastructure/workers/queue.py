"""The task queue behind monitoring checks and plan applies: saq on Redis, or in-process without it.

Both run the same task bodies (`workers/tasks.py`). Enqueueing is idempotent by key: a key that
was enqueued within its `dedup_ttl` is refused (`None`), whichever process enqueued it and
whether or not its job has finished. saq's own `key` only refuses while the job is incomplete, so
two schedulers a few seconds apart would otherwise both enqueue a check whose first run is done.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.redis import redis_client, redis_key, wait_for_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from saq import Queue

    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import App

_log = logging.getLogger(__name__)

#: a task body: a service call with JSON parameters, returning a JSON-safe result
TaskBody = Callable[..., Awaitable[dict[str, Any]]]
DEFAULT_QUEUE = "default"
#: markers set in one Redis round trip
CLAIM_PIPELINE = 1000


@dataclass(frozen=True)
class TaskSpec:
    """One kind of task and the queue settings it needs (saq's defaults — 10 s, no retry — fit none)."""

    name: str
    body: TaskBody
    #: seconds one run may take before it is aborted and retried
    timeout: int
    #: seconds without a heartbeat after which a run counts as dead (its worker was killed)
    heartbeat: int
    #: runs in all (saq counts the first): 3 = the first and two retries
    retries: int = 3
    retry_delay: float = 1.0
    #: seconds an enqueued key is remembered, so the same work is not enqueued again
    dedup_ttl: int = 86_400


class TaskQueue(Protocol):
    """What the scheduler and the API's job runner enqueue on."""

    async def enqueue(
        self, task_name: str, params: Mapping[str, Any], key: str, *, dedup_ttl: int | None = None
    ) -> str | None:
        """Enqueue a run of a task; its job id, or None when a job with this key already exists.

        `dedup_ttl` (seconds the key is remembered) overrides the task's: a periodic check's key
        need only outlive its interval.
        """
        ...

    async def claim(self, keys: Sequence[str], ttl: int) -> list[str]:
        """Mark keys as enqueued for `ttl` seconds; the ones no process had marked (batched checks).

        What the scheduler claims it puts in batch jobs: every key in exactly one of them.
        """
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Forget claimed keys whose job could not be enqueued (a later tick claims them again)."""
        ...

    async def ready(self) -> None:
        """Return once the queue can be used: Redis answers, within bounded tries (else RedisUnavailableError)."""
        ...

    async def close(self) -> None:
        """Release connections (queued work stays queued on Redis)."""
        ...


def spec_of(tasks: Mapping[str, TaskSpec], name: str) -> TaskSpec:
    """The task of this name, or a UserError naming the known ones."""
    try:
        return tasks[name]
    except KeyError:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(tasks))})") from None


class InProcessQueue:
    """The single-process runner: tasks run as asyncio tasks of this process, same bodies, same retries."""

    def __init__(
        self, app: App, tasks: Mapping[str, TaskSpec], *, concurrency: int = 8, keep_results: int = 10_000
    ) -> None:
        self.app = app
        self.tasks = dict(tasks)
        self._seen: dict[str, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)
        #: job key → result or error of the latest finished runs (what the API's job table reads);
        #: bounded, as a scheduler running for months would otherwise keep every run
        self.results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.keep_results = keep_results

    async def enqueue(
        self, task_name: str, params: Mapping[str, Any], key: str, *, dedup_ttl: int | None = None
    ) -> str | None:
        """Start the task now (bounded by `concurrency`); None when the key was enqueued recently."""
        spec = spec_of(self.tasks, task_name)
        if not await self.claim([key], dedup_ttl or spec.dedup_ttl):
            return None
        task = asyncio.get_running_loop().create_task(self._run(spec, dict(params), key))
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
        async with self._slots:
            for attempt in range(1, spec.retries + 1):
                try:
                    result = await asyncio.wait_for(spec.body(self.app, job_key=key, **params), spec.timeout)
                except Exception as exc:  # a failed run is retried like on the queue, then recorded
                    _log.warning("task %s (%s) attempt %d failed: %s", spec.name, key, attempt, exc)
                    self._keep(key, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"})
                    await asyncio.sleep(spec.retry_delay * attempt)
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
        """Let running tasks finish."""
        await self.join()


def saq_queue(settings: Settings, name: str = DEFAULT_QUEUE, redis: Redis | None = None) -> Queue:
    """saq's Redis queue under our key prefix (its own keys are `saq:<prefix>:<name>:…`)."""
    from saq.queue.redis import RedisQueue

    return RedisQueue(redis or redis_client(settings), name=f"{settings.redis_prefix}:{name}")


class SaqQueue:
    """Enqueues on saq (Redis); `email-infra worker` processes run the jobs."""

    def __init__(self, settings: Settings, tasks: Mapping[str, TaskSpec], name: str = DEFAULT_QUEUE) -> None:
        self.settings = settings
        self.tasks = dict(tasks)
        self.redis = redis_client(settings)
        self.queue = saq_queue(settings, name, self.redis)
        self._dedup = redis_key(settings, "queue", name, "enqueued")

    async def enqueue(
        self, task_name: str, params: Mapping[str, Any], key: str, *, dedup_ttl: int | None = None
    ) -> str | None:
        """One job per key per `dedup_ttl`, across every process that enqueues (SET NX, then saq's key)."""
        from saq import Job

        spec = spec_of(self.tasks, task_name)
        ttl = dedup_ttl or spec.dedup_ttl
        if not await self.claim([key], ttl):
            return None
        job = Job(
            function=spec.name,
            kwargs={"params": dict(params)},
            key=key,
            timeout=spec.timeout,
            heartbeat=spec.heartbeat,
            retries=spec.retries,
            retry_delay=spec.retry_delay,
            retry_backoff=True,
            # results are kept as long as the key is remembered: the job runner may read them
            ttl=ttl,
        )
        try:
            queued = await self.queue.enqueue(job)
        except BaseException:
            # not enqueued: let a later attempt (this scheduler's next tick, another one) try again
            await self.release([key])
            raise
        return queued.key if queued is not None else None

    async def claim(self, keys: Sequence[str], ttl: int) -> list[str]:
        """SET NX of each key's marker, pipelined: the keys no scheduler had marked."""
        claimed: list[str] = []
        for start in range(0, len(keys), CLAIM_PIPELINE):
            chunk = keys[start : start + CLAIM_PIPELINE]
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in chunk:
                    pipe.set(f"{self._dedup}:{key}", "1", nx=True, ex=ttl)
                answers = await pipe.execute()
            claimed.extend(key for key, won in zip(chunk, answers, strict=True) if won)
        return claimed

    async def release(self, keys: Sequence[str]) -> None:
        """Delete the keys' markers."""
        if keys:
            await self.redis.delete(*(f"{self._dedup}:{key}" for key in keys))

    async def status(self, key: str) -> dict[str, Any] | None:
        """A job's status, attempts, result and error (None once it expired)."""
        job = await self.queue.job(key)
        if job is None:
            return None
        return {"status": str(job.status.value), "attempts": job.attempts, "result": job.result, "error": job.error}

    async def ready(self) -> None:
        """Wait for Redis: `redis_connect_attempts` tries, then RedisUnavailableError (one line, exit 2)."""
        await wait_for_redis(self.settings)

    async def close(self) -> None:
        """Close the Redis connections (an unreachable Redis has none to close: not an error)."""
        try:
            await self.queue.disconnect()  # closes the client it shares with us
        except Exception as exc:  # saq's disconnect talks to Redis; it may be the reason we close
            _log.debug("closing the queue: %s: %s", type(exc).__name__, exc)


def open_queue(app: App, tasks: Mapping[str, TaskSpec] | None = None, name: str = DEFAULT_QUEUE) -> TaskQueue:
    """saq when REDIS_URL is set, else the in-process runner of this App."""
    if tasks is None:
        from email_infrastructure.workers.tasks import TASKS

        tasks = TASKS
    if app.settings.redis_url:
        return SaqQueue(app.settings, tasks, name)
    return InProcessQueue(app, tasks)

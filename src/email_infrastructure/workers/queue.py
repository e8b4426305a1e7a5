"""The saq implementation of `services.queue.TaskQueue` (Redis), and `open_queue`: saq with REDIS_URL, else in-process.

The faces (`serve`, `scheduler`) pick the queue here and hand it to the services. Enqueueing is
idempotent by key: a key enqueued within its `dedup_ttl` is refused (`None`), whichever process
enqueued it and whether or not its job has finished. saq's own `key` only refuses while the job
is incomplete, so two schedulers a few seconds apart would otherwise both enqueue a check whose
first run is done.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from email_infrastructure.core.redis import redis_client, redis_key, wait_for_redis
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.queue import DEFAULT_QUEUE, TaskQueue, TaskSpec, in_workspace, spec_of
from email_infrastructure.services.tasks import TASKS

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from saq import Queue

    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import App

_log = logging.getLogger(__name__)

#: markers set in one Redis round trip
CLAIM_PIPELINE = 1000


def saq_queue(settings: Settings, name: str = DEFAULT_QUEUE, redis: Redis | None = None) -> Queue:
    """saq's Redis queue under our key prefix (its own keys are `saq:<prefix>:<name>:…`)."""
    from saq.queue.redis import RedisQueue

    return RedisQueue(redis or redis_client(settings), name=f"{settings.redis_prefix}:{name}")


class SaqQueue:
    """Enqueues on saq (Redis); `email-infra worker` processes run the jobs."""

    local = False

    def __init__(
        self, settings: Settings, tasks: Mapping[str, TaskSpec] | None = None, name: str = DEFAULT_QUEUE
    ) -> None:
        self.settings = settings
        self.tasks: Mapping[str, TaskSpec] = dict(TASKS if tasks is None else tasks)
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
            # a worker is another process: the workspace the run acts in is one of its parameters
            kwargs={"params": in_workspace(params, self.settings.workspace)},
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

    async def join(self) -> None:
        """Nothing runs in this process: `email-infra worker` processes run the jobs."""

    async def close(self) -> None:
        """Close the Redis connections (an unreachable Redis has none to close: not an error)."""
        try:
            await self.queue.disconnect()  # closes the client it shares with us
        except Exception as exc:  # saq's disconnect talks to Redis; it may be the reason we close
            _log.debug("closing the queue: %s: %s", type(exc).__name__, exc)


def open_queue(app: App, tasks: Mapping[str, TaskSpec] | None = None, name: str = DEFAULT_QUEUE) -> TaskQueue:
    """saq when REDIS_URL is set, else the in-process queue of this App."""
    if app.settings.redis_url:
        return SaqQueue(app.settings, tasks, name)
    return InProcessQueue(app, tasks)

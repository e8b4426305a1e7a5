"""`email-infra scheduler`: enqueues each due check once per interval, however many schedulers run.

Time is cut into slots of a family's interval, shifted per (family, domain) by a stable offset so
a fleet's checks spread over the interval instead of firing together. A run's key is
`check:<family>:<domain>:<slot>`: every scheduler computes the same key, the queue lets one of
them claim it (`TaskQueue.claim`), and the results are stored once per key.

The checks a scheduler claimed go out in batches of one family (`run_checks`, `batch` domains a
job): a task's fixed cost — reading the desired state, a resolver, a transaction — is paid once
per batch instead of once per domain, while each domain keeps its own run key.

The scheduler watches every workspace: each has its own desired state and intervals
(`check_schedules`), a batch holds one workspace's domains and runs in that workspace, and a
tick's batches go out in turns, one per workspace, so that one large workspace's thousands of
batches do not queue ahead of every other workspace's few.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain, zip_longest
from typing import TYPE_CHECKING, Any

from email_infrastructure.services.queue import WORKSPACE_PARAM, workspace_param
from email_infrastructure.services.tasks import check_key

if TYPE_CHECKING:
    from email_infrastructure.services.app import App
    from email_infrastructure.services.monitoring import CheckSchedule
    from email_infrastructure.services.queue import TaskQueue
    from email_infrastructure.services.scope import Scope

#: one `run_checks` job to enqueue: workspace, family, [(domain, slot)], key TTL
_Batch = tuple["Scope | None", str, list[tuple[str, int]], int]

_log = logging.getLogger(__name__)
#: enqueues in flight at once (a first tick of 100,000 domains is one burst of round trips)
ENQUEUE_CONCURRENCY = 200
#: domains per `run_checks` job (settings: `scheduler_batch`)
DEFAULT_BATCH = 50


def offset(family: str, subject: str, interval: int) -> int:
    """Where in its interval a check falls: stable across processes and restarts (crc32, not hash())."""
    return zlib.crc32(f"{family}:{subject}".encode()) % max(interval, 1)


def slot(now: float, interval: int, shift: int) -> int:
    """The number of the interval `now` falls in, for a check shifted by `shift` seconds."""
    return int((now - shift) // max(interval, 1))


def batch_key(family: str, keys: list[str]) -> str:
    """The job key of a batch: the same for the same checks."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]
    return f"checks:{family}:{digest}"


@dataclass
class TickResult:
    """What one tick did (counted in checks: one per family and domain)."""

    enqueued: int = 0
    #: checks another scheduler (or an earlier run of this one) had enqueued already
    refused: int = 0
    #: the run keys of the checks enqueued
    keys: list[str] = field(default_factory=list)
    #: `run_checks` jobs they went out in
    jobs: int = 0


class Scheduler:
    """Enqueues the checks whose slot began since this process last looked, `batch` domains a job."""

    def __init__(self, queue: TaskQueue, *, clock: Callable[[], float] = time.time, batch: int = DEFAULT_BATCH) -> None:
        self.queue = queue
        self.clock = clock
        self.batch = max(batch, 1)
        self._submitted: dict[tuple[str, str], int] = {}

    async def tick(self, schedules: CheckSchedule | Sequence[CheckSchedule]) -> TickResult:
        """Claim every (family, domain) whose current slot was not submitted yet; enqueue those won.

        With several workspaces' schedules the batches go out in turns, one workspace's after another's.
        """
        now = self.clock()
        result = TickResult()
        gate = asyncio.Semaphore(ENQUEUE_CONCURRENCY)
        every = list(schedules) if isinstance(schedules, Sequence) else [schedules]
        per_workspace = [await self._due(schedule, now, result) for schedule in every]
        # one batch of each workspace in turn: the queue runs them in about this order
        turns = [b for b in chain.from_iterable(zip_longest(*per_workspace)) if b is not None]
        await asyncio.gather(*(self._submit(b, gate, result) for b in turns))
        return result

    async def _due(self, schedule: CheckSchedule, now: float, result: TickResult) -> list[_Batch]:
        """One workspace's due checks, claimed, in batches of one family."""
        batches: list[_Batch] = []
        for family, interval in schedule.intervals.items():
            due: dict[str, tuple[str, int]] = {}
            for subject in schedule.subjects.get(family, []):
                number = slot(now, interval, offset(family, subject, interval))
                if self._submitted.get((family, subject)) != number:
                    due[check_key(family, subject, number)] = (subject, number)
            if not due:
                continue
            # remembered one interval past its slot: a late scheduler still finds it
            ttl = 2 * interval + 60
            claimed = set(await self.queue.claim(list(due), ttl))
            for key, (subject, number) in due.items():
                if key not in claimed:
                    result.refused += 1
                    self._submitted[(family, subject)] = number
            mine = [item for key, item in due.items() if key in claimed]
            for start in range(0, len(mine), self.batch):
                batches.append((schedule.workspace, family, mine[start : start + self.batch], ttl))
        return batches

    async def _submit(self, job: _Batch, gate: asyncio.Semaphore, result: TickResult) -> None:
        workspace, family, batch, ttl = job
        keys = [check_key(family, subject, number) for subject, number in batch]
        params: dict[str, Any] = {"family": family, "items": [[subject, number] for subject, number in batch]}
        if workspace is not None:  # the batch runs in its workspace, wherever a worker takes it
            params[WORKSPACE_PARAM] = workspace_param(workspace)
        async with gate:
            try:
                await self.queue.enqueue("run_checks", params, batch_key(family, keys), dedup_ttl=ttl)
            except BaseException:
                # not enqueued: this scheduler's next tick (or another's) claims them again
                await self.queue.release(keys)
                raise
        # a refused batch key means the same checks were enqueued already (an answer lost earlier)
        for subject, number in batch:
            self._submitted[(family, subject)] = number
        result.enqueued += len(batch)
        result.keys.extend(keys)
        result.jobs += 1

    async def run(self, app: App, stop: asyncio.Event, *, tick: float = 30.0, refresh: float = 300.0) -> None:
        """Tick every `tick` seconds until `stop`; the desired states are re-read every `refresh` seconds.

        It watches every workspace (a workspace created meanwhile from the next re-read on), or only
        the one chosen (`acting_in`).
        """
        from email_infrastructure.services.monitoring import check_schedules

        schedules = await check_schedules(app)
        loaded = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - loaded >= refresh:
                schedules, loaded = await check_schedules(app), time.monotonic()
            try:
                done = await self.tick(schedules)
            except Exception as exc:  # Redis away for a moment: the next tick enqueues what is still due
                # one line for an outage (a traceback for anything else), then bounded tries:
                # Redis still away ends the scheduler with RedisUnavailableError (exit 2)
                outage = isinstance(exc, OSError) or type(exc).__module__.startswith("redis")
                _log.warning("scheduler tick failed: %s: %s", type(exc).__name__, exc, exc_info=not outage)
                await self.queue.ready()
            else:
                if done.enqueued or done.refused:
                    _log.info("scheduler: %d checks enqueued, %d already queued", done.enqueued, done.refused)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

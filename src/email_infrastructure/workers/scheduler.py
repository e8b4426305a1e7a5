"""`email-infra scheduler`: enqueues each due check once per interval, however many schedulers run.

Time is cut into slots of a family's interval, shifted per (family, domain) by a stable offset so
a fleet's checks spread over the interval instead of firing together. A run's job key is
`check:<family>:<domain>:<slot>`: every scheduler computes the same key, the queue takes it once
(`TaskQueue.enqueue` refuses a key it has seen), and the results are stored once per key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email_infrastructure.services.app import App
    from email_infrastructure.services.monitoring import CheckSchedule
    from email_infrastructure.workers.queue import TaskQueue

_log = logging.getLogger(__name__)
#: enqueues in flight at once (a first tick of 100,000 domains is one burst of round trips)
ENQUEUE_CONCURRENCY = 200


def offset(family: str, subject: str, interval: int) -> int:
    """Where in its interval a check falls: stable across processes and restarts (crc32, not hash())."""
    return zlib.crc32(f"{family}:{subject}".encode()) % max(interval, 1)


def slot(now: float, interval: int, shift: int) -> int:
    """The number of the interval `now` falls in, for a check shifted by `shift` seconds."""
    return int((now - shift) // max(interval, 1))


def check_key(family: str, subject: str, number: int) -> str:
    """The job key of one run: the same in every scheduler."""
    return f"check:{family}:{subject}:{number}"


@dataclass
class TickResult:
    """What one tick did."""

    enqueued: int = 0
    #: keys another scheduler (or an earlier run of this one) had enqueued already
    refused: int = 0
    keys: list[str] = field(default_factory=list)


class Scheduler:
    """Enqueues the checks whose slot began since this process last looked."""

    def __init__(self, queue: TaskQueue, *, clock: Callable[[], float] = time.time) -> None:
        self.queue = queue
        self.clock = clock
        self._submitted: dict[tuple[str, str], int] = {}

    async def tick(self, schedule: CheckSchedule) -> TickResult:
        """Enqueue every (family, domain) whose current slot was not submitted yet."""
        now = self.clock()
        due: list[tuple[str, str, int, int]] = []
        for family, interval in schedule.intervals.items():
            for subject in schedule.subjects.get(family, []):
                number = slot(now, interval, offset(family, subject, interval))
                if self._submitted.get((family, subject)) != number:
                    due.append((family, subject, number, interval))
        result = TickResult()
        gate = asyncio.Semaphore(ENQUEUE_CONCURRENCY)

        async def submit(family: str, subject: str, number: int, interval: int) -> None:
            key = check_key(family, subject, number)
            async with gate:
                job = await self.queue.enqueue(
                    "run_check",
                    {"family": family, "subject": subject, "slot": number},
                    key,
                    # remembered one interval past its slot: a late scheduler still finds it
                    dedup_ttl=2 * interval + 60,
                )
            self._submitted[(family, subject)] = number
            if job is None:
                result.refused += 1
            else:
                result.enqueued += 1
                result.keys.append(key)

        await asyncio.gather(*(submit(*item) for item in due))
        return result

    async def run(self, app: App, stop: asyncio.Event, *, tick: float = 30.0, refresh: float = 300.0) -> None:
        """Tick every `tick` seconds until `stop`; the desired state is re-read every `refresh` seconds."""
        from email_infrastructure.services.monitoring import check_schedule

        schedule = await check_schedule(app)
        loaded = time.monotonic()
        while not stop.is_set():
            if time.monotonic() - loaded >= refresh:
                schedule, loaded = await check_schedule(app), time.monotonic()
            try:
                done = await self.tick(schedule)
            except Exception:  # Redis away for a moment: the next tick enqueues what is still due
                _log.exception("scheduler tick failed")
            else:
                if done.enqueued or done.refused:
                    _log.info("scheduler: %d checks enqueued, %d already queued", done.enqueued, done.refused)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), tick)

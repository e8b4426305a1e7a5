"""`email-infra worker`: a saq worker running our task bodies, one App per process, with heartbeats."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from saq.types import Context

from email_infrastructure.core.errors import ConfigError
from email_infrastructure.services.jobs import entry
from email_infrastructure.services.queue import DEFAULT_QUEUE, TaskSpec
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.workers.queue import saq_queue

if TYPE_CHECKING:
    from saq import Worker
    from saq.types import TimersDict

    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import App

_log = logging.getLogger(__name__)
SaqFunction = Callable[..., Awaitable[dict[str, Any]]]


class WorkerContext(Context, total=False):
    """saq's job context plus the App its startup opened."""

    app: App


@dataclass
class WorkerOptions:
    """How one worker process runs."""

    queue: str = DEFAULT_QUEUE
    concurrency: int = 8
    #: stop once the queue is empty (tests, benchmarks, one-off catch-up runs)
    burst: bool = False
    #: seconds running jobs get to finish after SIGTERM before they are cancelled (and retried)
    grace: int = 10
    #: modules whose `TASKS` mapping adds task kinds (tests register their own bodies this way)
    task_modules: tuple[str, ...] = ()


def _prompt_worker_class() -> type[Worker[WorkerContext]]:
    """saq's Worker, stopping its upkeep loops at once on stop.

    saq's stop waits for every task, its upkeep loops included, up to the grace period; those
    loops sleep up to a minute (the sweep), so even an idle worker took the whole grace period to
    stop. Running jobs still get it.
    """
    from saq import Worker

    class PromptWorker(Worker[WorkerContext]):
        _upkeep: list[asyncio.Task[None]]

        async def upkeep(self) -> list[asyncio.Task[None]]:
            self._upkeep = await super().upkeep()
            return self._upkeep

        async def stop(self) -> None:
            for task in getattr(self, "_upkeep", []):
                task.cancel()
            await super().stop()

    return PromptWorker


def load_tasks(modules: tuple[str, ...] = ()) -> dict[str, TaskSpec]:
    """Our tasks (services/tasks.py) plus each module's `TASKS` (a mapping of name → TaskSpec)."""
    tasks = dict(TASKS)
    for name in modules:
        try:
            extra = importlib.import_module(name).TASKS
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"task module {name!r}: {exc}") from None
        tasks.update(extra)
    return tasks


def _with_heartbeat(spec: TaskSpec) -> SaqFunction:
    """The saq function of a task: runs its body on the worker's App, touching the job meanwhile.

    The touch is what tells a live worker from a killed one: saq's sweep retries an active job
    not touched for `heartbeat` seconds. A job-row task runs through `services.jobs.run_job`.
    """
    body = entry(spec)

    async def run(ctx: WorkerContext, *, params: dict[str, Any]) -> dict[str, Any]:
        job = ctx["job"]
        app: App = ctx["app"]
        # the job's own heartbeat is what the sweep judges it by: the enqueuer set it, and may
        # have set it shorter than this worker's spec says
        interval = max((job.heartbeat or spec.heartbeat) / 3, 0.2)

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                with contextlib.suppress(Exception):  # a missed beat is retried by the next one
                    await job.update()

        beating = asyncio.create_task(beat())
        try:
            result: dict[str, Any] = await body(app, job_key=job.key, **params)
            return result
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    run.__qualname__ = spec.name
    return run


def build_worker(
    settings: Settings, options: WorkerOptions, tasks: Mapping[str, TaskSpec] | None = None
) -> Worker[WorkerContext]:
    """A saq worker over our queue; its startup opens the App (with the event bridge), shutdown closes it."""
    if not settings.redis_url:
        raise ConfigError("`email-infra worker` needs REDIS_URL (without it, `monitor` runs checks in-process)")
    specs = dict(tasks) if tasks is not None else load_tasks(options.task_modules)
    bridges: list[Callable[[], Awaitable[None]]] = []

    async def startup(ctx: WorkerContext) -> None:
        from email_infrastructure.core import cache
        from email_infrastructure.services.app import App
        from email_infrastructure.workers.events import publish_to_stream

        cache.install(settings)  # DNS answers, zone ids and rate limits shared with the other workers
        app = App(settings)
        ctx["app"] = app
        bridges.append(publish_to_stream(app.bus, settings))
        _log.info("worker %s ready on queue %s (tasks: %s)", ctx["worker"].id, options.queue, ", ".join(specs))

    async def shutdown(ctx: WorkerContext) -> None:
        app = ctx.get("app")
        if app is not None:
            await app.close()
        for close in bridges:
            await close()
        from email_infrastructure.core import cache

        await cache.uninstall()

    # saq's defaults except the sweep, which decides how soon a dead worker's job is retried
    timers: TimersDict = {"schedule": 1, "worker_info": 10, "sweep": settings.worker_sweep_seconds, "abort": 1}
    return _prompt_worker_class()(
        saq_queue(settings, options.queue),
        functions=[(spec.name, _with_heartbeat(spec)) for spec in specs.values()],
        concurrency=options.concurrency,
        startup=startup,
        shutdown=shutdown,
        timers=timers,
        # an idle worker returns from its dequeue each second, so SIGTERM stops it promptly
        dequeue_timeout=1.0,
        burst=options.burst,
        shutdown_grace_period_s=options.grace,
    )


async def run_worker(settings: Settings, options: WorkerOptions) -> None:
    """Process jobs until SIGTERM/SIGINT (or, in burst mode, until the queue is empty).

    Redis must answer first, and keep answering: RedisUnavailableError (exit 2) after the bounded
    tries of `wait_for_redis`, at start or during an outage, instead of tracebacks forever.
    """
    from email_infrastructure.core.redis import RedisUnavailableError, wait_for_redis

    await wait_for_redis(settings)
    worker = build_worker(settings, options)
    lost: list[RedisUnavailableError] = []
    quiet = _QuietOutage()
    logging.getLogger("saq").addFilter(quiet)
    watcher = asyncio.create_task(_watch_redis(settings, worker, lost))
    try:
        await worker.start()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        logging.getLogger("saq").removeFilter(quiet)
        with contextlib.suppress(Exception):  # Redis may be the reason we stop
            await worker.queue.disconnect()
    if lost:
        raise lost[0]


class _QuietOutage(logging.Filter):
    """saq's loops log a traceback per failed Redis call, each second: `_watch_redis` reports outages."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, OSError) or type(error).__module__.startswith("redis"))


async def _watch_redis(settings: Settings, worker: Worker[WorkerContext], lost: list[Any]) -> None:
    """Ping Redis every `redis_watch_seconds`; when it stops answering, bounded tries, then stop the worker."""
    from email_infrastructure.core.redis import RedisUnavailableError, redis_client, redis_location, wait_for_redis

    where = redis_location(settings.redis_url or "")
    client = redis_client(settings)
    try:
        while True:
            await asyncio.sleep(settings.redis_watch_seconds)
            try:
                await asyncio.wait_for(cast(Awaitable[bool], client.ping()), 5)
                continue
            except Exception as exc:
                _log.warning("Redis at %s does not answer (%s): trying again", where, type(exc).__name__)
            try:
                await wait_for_redis(settings)
            except RedisUnavailableError as exc:
                lost.append(exc)
                await worker.stop()  # running jobs get the grace period; saq retries them elsewhere
                return
            _log.warning("Redis at %s answers again", where)
    finally:
        await client.aclose()


async def health(settings: Settings) -> list[str]:
    """What keeps this deployment's worker from working (Redis, the database); empty when healthy."""
    from email_infrastructure.core.errors import EmailInfraError
    from email_infrastructure.core.redis import redis_client
    from email_infrastructure.services.app import open_app

    problems: list[str] = []
    try:
        client = redis_client(settings)
        try:
            # the asyncio client's ping is typed for both clients (bool | Awaitable[bool])
            await asyncio.wait_for(cast(Awaitable[bool], client.ping()), 5)
        finally:
            await client.aclose()
    except Exception as exc:  # redis-py's errors, a refused URL, a timeout: unhealthy whatever the cause
        problems.append(f"redis: {type(exc).__name__}: {exc}")
    async with open_app(settings) as app:
        try:
            await asyncio.wait_for(app.database(), 10)
        except (EmailInfraError, OSError, TimeoutError) as exc:
            problems.append(f"database: {exc}")
    return problems

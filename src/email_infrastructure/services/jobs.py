"""Background jobs: a row per job in the database, run by a JobRunner (in-process, or the task queue).

Routes submit jobs and poll them by id; what runs them is behind `JobRunner`: `InProcessRunner`
here, `workers.runner.QueueRunner` (saq workers) with REDIS_URL, the routes unchanged. `run_job`
is the task body any runner calls; with a `lease` (the queue's workers) a run claims the row,
keeps its lease alive from its heartbeat, and a run of a killed worker's job waits for the lease
to run out before taking the job over. Plans made through the API are stored as finished jobs of kind
`plan` (their result is the plan), so that `POST /plans/{id}/apply` can name the checksum shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError

from email_infrastructure.core.errors import EmailInfraError, NotFoundError, UserError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.storage.api_repositories import Jobs
from email_infrastructure.storage.models import JobRecord, utcnow

_log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
#: how often a running job writes its progress and heartbeat
HEARTBEAT_EVERY = 1.0
Report = Callable[[str], None]
Handler = Callable[[App, dict[str, Any], Report], Awaitable[tuple[bool, dict[str, Any], str | None]]]


@dataclass(frozen=True)
class JobView:
    """A job as the API shows it."""

    id: str
    kind: str
    status: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    key_name: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def done(self) -> bool:
        """True once the job succeeded or failed."""
        return self.status in ("succeeded", "failed")

    def to_json(self) -> dict[str, Any]:
        """JSON form."""

        def when(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "params": self.params,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
            "key_name": self.key_name,
            "created_at": when(self.created_at),
            "started_at": when(self.started_at),
            "finished_at": when(self.finished_at),
        }


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _view(row: JobRecord) -> JobView:
    created = _aware(row.created_at)
    assert created is not None
    return JobView(
        row.id,
        row.kind,
        row.status,
        dict(row.params),
        dict(row.progress or {}),
        row.result,
        row.error,
        row.key_name,
        created,
        _aware(row.started_at),
        _aware(row.finished_at),
    )


async def _apply(app: App, params: dict[str, Any], report: Report) -> tuple[bool, dict[str, Any], str | None]:
    """Re-plan the stored desired state, refuse if the checksum changed, apply."""
    from email_infrastructure.services.plans import apply

    # A run taking over a dead worker's apply finds part of the plan applied, so the plan's
    # checksum no longer matches: it re-plans what is left and converges (the guard was passed
    # when the job first started).
    checksum = None if params.get("resumed") else str(params["checksum"])
    if checksum is None:
        report("resumed: the run that started this apply stopped; re-planned what is left")
    result = await apply(app, checksum=checksum, progress=report)
    failed = [o.key for o in result.failed]
    error = f"{len(failed)} step(s) failed: {', '.join(failed)}" if failed else None
    return not failed, result.to_json(), error


HANDLERS: dict[str, Handler] = {"apply": _apply}


async def store_plan(app: App, plan: dict[str, Any], *, key_name: str) -> JobView:
    """Keep a plan made through the API (a finished `plan` job) so that it can be applied by id."""
    now = utcnow()
    row = JobRecord(
        id=uuid.uuid4().hex,
        kind="plan",
        params={},
        status="succeeded",
        progress={},
        result=plan,
        key_name=key_name,
        created_at=now,
        updated_at=now,
        started_at=now,
        finished_at=now,
    )
    async with app.uow() as uow:
        Jobs(uow.session).add(row)
        uow.emit(
            events.PLAN_CREATED,
            events.PlanStoredPayload(plan=row.id, checksum=plan.get("checksum")),
            source=f"api:{key_name}",
        )
        await uow.commit()
    return _view(row)


async def get_job(app: App, job_id: str, kind: str | None = None) -> JobView:
    """One job (of `kind` when given); NotFoundError when there is none."""
    async with app.uow() as uow:
        row = await Jobs(uow.session).get(job_id)
        if row is None or (kind is not None and row.kind != kind):
            raise NotFoundError(f"no {kind or 'job'} {job_id!r}")
        return _view(row)


async def submit(
    app: App, kind: str, params: dict[str, Any], *, key_name: str, job_key: str | None = None
) -> tuple[JobView, bool]:
    """Queue a job; with `job_key`, a second submit returns the first job (and False)."""
    if kind not in HANDLERS:
        raise UserError(f"unknown job kind {kind!r} (known: {', '.join(sorted(HANDLERS))})")
    async with app.uow() as uow:
        jobs = Jobs(uow.session)
        if job_key is not None:
            found = await jobs.by_job_key(job_key)
            if found is not None:
                return _view(found), False
        now = utcnow()
        row = JobRecord(
            id=uuid.uuid4().hex,
            kind=kind,
            params=params,
            status="queued",
            progress={},
            key_name=key_name,
            job_key=job_key,
            created_at=now,
            updated_at=now,
        )
        jobs.add(row)
        uow.emit(
            events.JOB_QUEUED, events.JobQueuedPayload(job=row.id, kind=kind, params=params), source=f"api:{key_name}"
        )
        try:
            await uow.commit()
        except IntegrityError:
            if job_key is None:
                raise
            raced = True
        else:
            raced = False
    if raced:  # a concurrent submit with the same job_key committed first: that is the job
        async with app.uow() as uow:
            found = await Jobs(uow.session).by_job_key(str(job_key))
            assert found is not None
            return _view(found), False
    return _view(row), True


async def queued_job_ids(app: App) -> list[str]:
    """Jobs submitted but not yet started, oldest first (what a restarted runner enqueues again)."""
    async with app.uow() as uow:
        return [row.id for row in await Jobs(uow.session).unfinished() if row.status == "queued"]


async def _update(app: App, job_id: str, **values: Any) -> JobRecord:
    async with app.uow() as uow:
        row = await Jobs(uow.session).get(job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
        if "status" in values and values["status"] in ("succeeded", "failed"):
            uow.emit(
                events.JOB_FINISHED,
                events.JobFinishedPayload(job=job_id, kind=row.kind, status=row.status),
                source=f"api:{row.key_name}",
            )
        await uow.commit()
        return row


async def _claim(app: App, job_id: str, lease: float) -> bool:
    """Take the job: queued, or running under a lease that ran out (its worker died). One claimant wins."""
    now = utcnow()
    async with app.uow() as uow:
        # one conditional UPDATE, so that two deliveries of one job cannot both take it
        claimed = await uow.session.execute(
            update(JobRecord)
            .where(
                JobRecord.id == job_id,
                or_(
                    JobRecord.status == "queued",
                    and_(JobRecord.status == "running", JobRecord.lease_until < now),
                ),
            )
            .values(
                status="running",
                started_at=func.coalesce(JobRecord.started_at, now),  # a takeover keeps the first start
                heartbeat_at=now,
                lease_until=now + timedelta(seconds=lease),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        await uow.commit()
    return bool(getattr(claimed, "rowcount", 0) == 1)


async def _take(app: App, job_id: str, lease: float | None) -> JobView | None:
    """Claim the job for this run; None when it is not this run's (finished, or another's).

    A job taken over from a run whose lease ran out comes back with `resumed` in its params.
    """
    while True:
        job = await get_job(app, job_id)
        if lease is None:  # the in-process runner: this process is the only one running jobs
            if job.status != "queued":
                return None
            await _update(app, job_id, status="running", started_at=utcnow(), heartbeat_at=utcnow())
            return job
        if job.done:
            return None  # delivered again after it finished: nothing to do
        if await _claim(app, job_id, lease):
            return dataclasses.replace(job, params={**job.params, "resumed": True}) if job.status == "running" else job
        # running under another run's lease: a live run keeps renewing it (then this delivery
        # waits it out); a killed worker's lease runs out and this run takes over
        await asyncio.sleep(min(HEARTBEAT_EVERY, lease))


async def run_job(app: App, job_id: str, *, lease: float | None = None) -> JobView:
    """Run one job to its end, recording progress, heartbeats, result or error.

    With `lease` (seconds; the queue's workers) the run claims the job atomically and renews the
    lease on every heartbeat; a job finished already is returned as it is.
    """
    job = await _take(app, job_id, lease)
    if job is None:
        return await get_job(app, job_id)
    handler = HANDLERS[job.kind]
    messages: list[str] = []

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY)
            progress = {"steps": len(messages), "last": messages[-1] if messages else None}
            values: dict[str, Any] = {"progress": progress, "heartbeat_at": utcnow()}
            if lease is not None:
                values["lease_until"] = utcnow() + timedelta(seconds=lease)
            with contextlib.suppress(EmailInfraError, OSError):  # a missed beat is made good by the next
                await _update(app, job_id, **values)

    beat = asyncio.create_task(heartbeat())
    try:
        ok, result, error = await handler(app, job.params, messages.append)
        status, values = ("succeeded" if ok else "failed"), {"result": result, "error": error}
    except EmailInfraError as exc:
        status, values = "failed", {"result": None, "error": redact_text(str(exc))}
    except Exception as exc:
        _log.error("job %s (%s) failed: %s", job_id, job.kind, exc, exc_info=exc)
        status, values = "failed", {"result": None, "error": f"internal error: {type(exc).__name__}"}
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    progress = {"steps": len(messages), "last": messages[-1] if messages else None}
    row = await _update(app, job_id, status=status, progress=progress, finished_at=utcnow(), lease_until=None, **values)
    return _view(row)


class JobRunner(Protocol):
    """What runs submitted jobs: in-process tasks, or the task queue's workers (`workers.runner`)."""

    async def start(self) -> None:
        """Begin accepting jobs (and pick up what a previous process left queued)."""

    async def enqueue(self, job_id: str) -> None:
        """Have a submitted job run."""

    async def stop(self) -> None:
        """Stop: running jobs are cancelled after a grace period."""


class InProcessRunner:
    """Jobs as asyncio tasks of the API process, at most `concurrency` at a time."""

    def __init__(self, app: App, *, concurrency: int = 2, grace: float = 10.0) -> None:
        self.app = app
        self.grace = grace
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Re-queue what was queued; a job left running died with its process: mark it failed."""
        if not self.app.has_state():
            return
        async with self.app.uow() as uow:
            rows = await Jobs(uow.session).unfinished()
            queued = [r.id for r in rows if r.status == "queued"]
            for row in rows:
                if row.status == "running":
                    row.status, row.error, row.finished_at = "failed", "interrupted: the API process stopped", utcnow()
            await uow.commit()
        for job_id in queued:
            await self.enqueue(job_id)

    async def enqueue(self, job_id: str) -> None:
        """Start the job as a task."""
        task = asyncio.create_task(self._run(job_id), name=f"job-{job_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, job_id: str) -> None:
        async with self._slots:
            try:
                await run_job(self.app, job_id)
            except Exception as exc:  # the job row says what failed; the runner must keep going
                _log.error("job %s could not be run: %s", job_id, exc, exc_info=exc)

    async def stop(self) -> None:
        """Wait up to `grace` seconds for running jobs, then cancel them."""
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(set(self._tasks), timeout=self.grace)
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def idle(self) -> None:
        """Wait until every job enqueued so far has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*set(self._tasks), return_exceptions=True)


__all__ = [
    "HANDLERS",
    "InProcessRunner",
    "JobRunner",
    "JobView",
    "get_job",
    "queued_job_ids",
    "run_job",
    "store_plan",
    "submit",
]

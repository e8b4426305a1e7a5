"""Job rows: background work the API and the dashboard submit and poll by id, whichever queue runs it.

A task declared with `job_row=True` (services/tasks.py) is submitted here: `submit` writes its row
(idempotent by `job_key`) and enqueues it under the row's id. `run_job` is the generic wrapper the
queue runs for every such task: it claims the row under a lease, keeps the lease alive from its
heartbeat while the task's body runs, and writes progress, result or error; a run of a killed
worker's job waits for the lease to run out, then takes the job over with `resumed=True`.

A job belongs to the workspace it was submitted in: its row is that workspace's (so are the
`job_key`s that make a submit idempotent), the queue's message names the workspace, and `entry`
runs the task's body acting in it, on this process's queue and on a saq worker alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError

from email_infrastructure.core.errors import EmailInfraError, NotFoundError, UserError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.queue import (
    WORKSPACE_PARAM,
    JobFailed,
    TaskBody,
    TaskQueue,
    TaskSpec,
    scope_of,
    spec_of,
    workspace_param,
)
from email_infrastructure.services.scope import EVERY, Scope, acting_in
from email_infrastructure.storage.api_repositories import Jobs
from email_infrastructure.storage.models import JobRecord, utcnow

_log = logging.getLogger(__name__)

JobStatus = Literal["queued", "running", "succeeded", "failed"]
#: how often a running job writes its progress and heartbeat
HEARTBEAT_EVERY = 1.0


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
    #: the workspace the job belongs to (its id, and its name when the reader knew it)
    workspace_id: int | None = None
    workspace: str | None = None

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


def _view(row: JobRecord, workspace: str | None = None) -> JobView:
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
        row.workspace_id,
        workspace,
    )


async def get_job(app: App, job_id: str) -> JobView:
    """One job; NotFoundError when there is none."""
    async with app.uow() as uow:
        row = await Jobs(uow.session).get(job_id)
        if row is None:
            raise NotFoundError(f"no job {job_id!r}")
        return _view(row, uow.workspace)


async def submit(
    app: App, queue: TaskQueue, task_name: str, params: dict[str, Any], *, key_name: str, job_key: str | None = None
) -> tuple[JobView, bool]:
    """Write a `job_row` task's row and enqueue it; with `job_key` a second submit returns the first job and False.

    The job is the workspace's the caller acts in; `job_key` is unique within that workspace.
    """
    spec = spec_of(queue.tasks, task_name)
    if not spec.job_row:
        raise UserError(f"task {task_name!r} keeps no job row: enqueue it on the queue instead")
    async with app.uow() as uow:
        jobs = Jobs(uow.session)
        if job_key is not None:
            found = await jobs.by_job_key(job_key)
            if found is not None:
                return _view(found, uow.workspace), False
        now = utcnow()
        row = JobRecord(
            id=uuid.uuid4().hex,
            kind=task_name,
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
            events.JOB_QUEUED,
            events.JobQueuedPayload(job=row.id, kind=task_name, params=params),
            source=f"api:{key_name}",
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
            return _view(found, uow.workspace), False
    job = _view(row, uow.workspace)
    await enqueue(queue, job)
    return job, True


async def enqueue(queue: TaskQueue, job: JobView) -> None:
    """Put a job row's run on the queue, once: the row's id is the queue's key; it runs in the job's workspace."""
    spec = spec_of(queue.tasks, job.kind)
    # the lease is the queue's heartbeat: a run silent that long is dead, to the queue and to the row
    params: dict[str, Any] = {"job_id": job.id, "lease": float(spec.heartbeat)}
    if job.workspace is not None:
        params[WORKSPACE_PARAM] = workspace_param(Scope(job.workspace, job.workspace_id))
    if await queue.enqueue(spec.name, params, job.id) is None:
        _log.info("job %s is already on the queue", job.id)


async def recover(app: App, queue: TaskQueue) -> None:
    """At start: enqueue again what is still queued (a process died between its commit and its enqueue).

    On a local queue a job left running died with its process: it is marked failed, not re-run
    behind anyone's back. On saq running jobs belong to their workers (a dead worker's job is
    retried by the queue) and enqueueing is idempotent by job id. Every workspace's jobs are
    recovered, each to run in its own workspace.
    """
    if not app.has_state():
        return
    # one read across workspaces; an update of rows read needs no workspace to stamp
    async with app.uow(EVERY) as uow:
        names = {w.id: w.name for w in await uow.workspaces.all()}
        rows = await Jobs(uow.session).unfinished()
        queued = [_view(r, names.get(r.workspace_id)) for r in rows if r.status == "queued"]
        if queue.local:
            for row in rows:
                if row.status == "running":
                    row.status, row.error, row.finished_at = "failed", "interrupted: the API process stopped", utcnow()
        await uow.commit()
    for job in queued:
        await enqueue(queue, job)


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


async def _take(app: App, job_id: str, lease: float) -> tuple[JobView, bool] | None:
    """Claim the job, and say whether it is a takeover; None when it is not this run's (finished, another's)."""
    while True:
        job = await get_job(app, job_id)
        if job.done:
            return None  # delivered again after it finished: nothing to do
        if await _claim(app, job_id, lease):
            return job, job.status == "running"
        # running under another run's lease: a live run keeps renewing it (then this delivery
        # waits it out); a killed worker's lease runs out and this run takes over
        await asyncio.sleep(min(HEARTBEAT_EVERY, lease))


async def run_job(
    app: App, *, task: TaskSpec, job_key: str, job_id: str, lease: float = 60.0, workspace: Any = None
) -> dict[str, Any]:
    """Run one job row's task to its end, recording progress, heartbeats, result or error.

    The run claims the row atomically and renews its lease (seconds) on every heartbeat; a job
    finished already is left as it is. Returns a summary for the queue's own record.

    With `workspace` (the queue's parameter) it runs acting in that workspace, without a frame of
    its own between the queue and the task's body.
    """
    # the job row and the task body are the workspace's the queue names (another process: no context)
    entered = acting_in(scope_of(workspace)) if workspace is not None else contextlib.nullcontext()
    with entered:
        taken = await _take(app, job_id, lease)
        if taken is None:
            job = await get_job(app, job_id)
            return {"status": job.status, "job_key": job_key, "job_id": job_id, "error": job.error}
        job, resumed = taken
        messages: list[str] = []
        if resumed:
            messages.append("resumed: the run that started this job stopped; it was taken over")

        async def heartbeat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_EVERY)
                progress = {"steps": len(messages), "last": messages[-1] if messages else None}
                until = utcnow() + timedelta(seconds=lease)
                values = {"progress": progress, "heartbeat_at": utcnow(), "lease_until": until}
                with contextlib.suppress(EmailInfraError, OSError):  # a missed beat is made good by the next
                    await _update(app, job_id, **values)

        beat = asyncio.create_task(heartbeat())
        try:
            outcome = await task.body(app, progress=messages.append, resumed=resumed, **job.params)
            result = outcome if isinstance(outcome, dict) else outcome.to_json()
            status, values = "succeeded", {"result": result, "error": None}
        except JobFailed as exc:
            status, values = "failed", {"result": exc.result, "error": redact_text(str(exc))}
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
        row = await _update(
            app, job_id, status=status, progress=progress, finished_at=utcnow(), lease_until=None, **values
        )
        return {"status": row.status, "job_key": job_key, "job_id": job_id, "error": row.error}


def entry(task: TaskSpec) -> TaskBody:
    """What a queue calls for a task, `(app, *, job_key, workspace, **params)`: its body acting in `workspace`.

    A job-row task runs through `run_job`. A run enqueued by a release before workspaces has no
    `workspace`: it acts in the settings' (`default`), where its rows were moved.
    """
    if task.job_row:
        return functools.partial(run_job, task=task)  # enters the workspace itself
    body = task.body

    async def run(app: App, *, job_key: str, workspace: Any = None, **params: Any) -> Any:
        if workspace is None:
            return await body(app, job_key=job_key, **params)
        with acting_in(scope_of(workspace)):
            return await body(app, job_key=job_key, **params)

    run.__qualname__ = run.__name__ = task.name
    return run


__all__ = ["JobStatus", "JobView", "enqueue", "entry", "get_job", "recover", "run_job", "submit"]

"""The API's job runner on the task queue: a submitted job becomes a saq job that a worker runs.

The job row stays the record (`services/jobs.py`): the worker's run claims it under a lease,
renews the lease from its heartbeat and writes status, progress and result into it, so the API
and the dashboard poll the same row whichever process ran the job.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import JobRunner, get_job, queued_job_ids
from email_infrastructure.workers.queue import SaqQueue, TaskSpec, spec_of

_log = logging.getLogger(__name__)

#: the task that runs each kind of job
TASK_OF_KIND = {"apply": "apply_plan"}


class QueueRunner:
    """Enqueues each submitted job on saq under its job id; `email-infra worker` processes run it."""

    def __init__(self, app: App, tasks: Mapping[str, TaskSpec] | None = None) -> None:
        if tasks is None:
            from email_infrastructure.workers.tasks import TASKS

            tasks = TASKS
        self.app = app
        self.tasks = dict(tasks)
        self._queue: SaqQueue | None = None

    @property
    def queue(self) -> SaqQueue:
        """The saq queue (connected on first use)."""
        if self._queue is None:
            self._queue = SaqQueue(self.app.settings, self.tasks)
        return self._queue

    async def start(self) -> None:
        """Enqueue what is still queued: an API process that died between its commit and its enqueue.

        Enqueueing is idempotent by job id, so a job another API process enqueued is not enqueued
        again; running jobs belong to their workers (a dead worker's job is retried by the queue).
        """
        if not self.app.has_state():
            return
        for job_id in await queued_job_ids(self.app):
            await self.enqueue(job_id)

    async def enqueue(self, job_id: str) -> None:
        """Put the job on the queue once: its id is the saq key, remembered for the task's dedup TTL."""
        job = await get_job(self.app, job_id)
        spec = spec_of(self.tasks, TASK_OF_KIND.get(job.kind, job.kind))
        # the lease is the queue's heartbeat: a run silent that long is dead, to the queue and to the row
        enqueued = await self.queue.enqueue(spec.name, {"job_id": job_id, "lease": float(spec.heartbeat)}, job_id)
        if enqueued is None:
            _log.info("job %s is already on the queue", job_id)

    async def stop(self) -> None:
        """Close the Redis connections (queued jobs stay queued for the workers)."""
        if self._queue is not None:
            await self._queue.close()
            self._queue = None


def runner_for(app: App) -> JobRunner:
    """The task queue's runner with REDIS_URL, else the in-process runner."""
    if app.settings.redis_url:
        return QueueRunner(app)
    from email_infrastructure.services.jobs import InProcessRunner

    return InProcessRunner(app)

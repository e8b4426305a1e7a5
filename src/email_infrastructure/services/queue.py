"""Background work: how a task is declared (`TaskSpec`) and the one queue protocol (`TaskQueue`).

The registry of our tasks is `services/tasks.py`; the queues are `services/local_queue.py`
(in-process, the embedded default) and `workers/queue.py` `SaqQueue` (saq on Redis), picked by
the face that starts the process and handed to the services that enqueue. Enqueueing is
idempotent by key: a key enqueued within its `dedup_ttl` is refused (`None`), whichever process
enqueued it and whether or not its job has finished.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from email_infrastructure.core.errors import EmailInfraError, UserError
from email_infrastructure.services.scope import Scope, current

#: a task body: a service function with JSON parameters (see `TaskSpec.job_row` for its signature)
TaskBody = Callable[..., Awaitable[Any]]
#: where a job-row task reports a line of progress
Report = Callable[[str], None]
DEFAULT_QUEUE = "default"
#: the task parameter every enqueued run carries: the workspace it acts in (`{"name", "id"}`);
#: the run enters it (`services.jobs.entry`), as a worker process shares no context variable
WORKSPACE_PARAM = "workspace"


@dataclass(frozen=True)
class TaskSpec:
    """One kind of task and the queue settings it needs (saq's defaults — 10 s, no retry — fit none).

    A plain task's body is `body(app, *, job_key, **params)` returning a JSON-safe dict; it is
    retried on an exception. A `job_row` task keeps a row in the jobs table (status, progress,
    result, visible at `GET /api/v1/jobs/{id}`): its body is `body(app, *, progress, resumed,
    **row params)` returning a dict or an object with `to_json()`; `services/jobs.py run_job`
    wraps it (claim, lease, heartbeat, result or error) and an exception fails the job instead
    of retrying it. Every run acts in the workspace it was enqueued in: the queue adds the
    parameter `workspace` (`WORKSPACE_PARAM`, so no task has a parameter of that name) and the
    run enters it before the body starts.
    """

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
    #: keeps a job row (submitted with `services.jobs.submit`, polled at /api/v1/jobs/{id})
    job_row: bool = False


class JobFailed(EmailInfraError):
    """A job-row task that ran to its end but failed: its result is kept with the error."""

    def __init__(self, message: str, result: dict[str, Any]) -> None:
        super().__init__(message)
        self.result = result


class TaskQueue(Protocol):
    """What the scheduler, the API and the dashboard enqueue on: in-process, or saq."""

    #: the tasks this queue knows, by name
    tasks: Mapping[str, TaskSpec]
    #: True when tasks run in this process (they die with it: a job row left running is lost)
    local: bool

    async def enqueue(
        self, task_name: str, params: Mapping[str, Any], key: str, *, dedup_ttl: int | None = None
    ) -> str | None:
        """Enqueue a run of a task; its job key, or None when a job with this key was enqueued already.

        `dedup_ttl` (seconds the key is remembered) overrides the task's: a periodic check's key
        need only outlive its interval.
        """
        ...

    async def claim(self, keys: Sequence[str], ttl: int) -> list[str]:
        """Mark keys as enqueued for `ttl` seconds; the ones no process had marked (batched checks)."""
        ...

    async def release(self, keys: Sequence[str]) -> None:
        """Forget claimed keys whose job could not be enqueued (a later tick claims them again)."""
        ...

    async def ready(self) -> None:
        """Return once the queue can be used: Redis answers, within bounded tries (else RedisUnavailableError)."""
        ...

    async def join(self) -> None:
        """Wait until every task this process runs has finished (nothing runs here on saq)."""
        ...

    async def close(self) -> None:
        """Stop: tasks running here get a grace period; queued work stays queued on Redis."""
        ...


def workspace_param(scope: Scope) -> dict[str, Any]:
    """The `workspace` parameter of a run acting in `scope` (one workspace, never every one)."""
    if scope.every:
        raise UserError("a background task acts in one workspace: choose one (--workspace NAME) to start it")
    return {"name": scope.name, "id": scope.id}


def scope_of(param: Mapping[str, Any] | str) -> Scope:
    """The scope a run's `workspace` parameter names."""
    if isinstance(param, str):
        return Scope(param)
    workspace_id = param.get("id")
    return Scope(str(param["name"]), int(workspace_id) if workspace_id is not None else None)


def in_workspace(params: Mapping[str, Any], default: str) -> dict[str, Any]:
    """`params` with the workspace the run acts in: theirs, else the chosen one, else `default` (the settings')."""
    if WORKSPACE_PARAM in params:
        return dict(params)
    return {**params, WORKSPACE_PARAM: workspace_param(current(default))}


def spec_of(tasks: Mapping[str, TaskSpec], name: str) -> TaskSpec:
    """The task of this name, or a UserError naming the known ones."""
    try:
        return tasks[name]
    except KeyError:
        raise UserError(f"unknown task {name!r} (known: {', '.join(sorted(tasks))})") from None

"""The registry of background tasks: each declared once, here, and run by either queue.

A background operation is a service function plus one line in `TASKS` (its timeout, heartbeat,
retries, and whether it keeps a job row). Plain tasks are safe to run twice (every queue delivers
at least once); job-row tasks are wrapped by `services/jobs.py run_job`, which makes a second
delivery of a finished job do nothing.
"""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.monitoring.monitor import RunSummary
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import run_job
from email_infrastructure.services.monitoring import run_batch
from email_infrastructure.services.plans import apply, apply_stored_plan
from email_infrastructure.services.queue import TaskSpec
from email_infrastructure.services.recheck import recheck_domains


def check_key(family: str, subject: str, number: int) -> str:
    """The job key of one check run (family, domain, slot): the same in every scheduler."""
    return f"check:{family}:{subject}:{number}"


async def run_check(app: App, *, job_key: str, family: str, subject: str, slot: int | None = None) -> dict[str, Any]:
    """One check family for one domain; results stored once per job key (a job of an earlier release)."""
    run = await run_batch(app, family, {subject: job_key}, stored_only=True)
    if run.gone:
        return {"family": family, "subject": subject, "slot": slot, "skipped": "no longer in the desired state"}
    return {"family": family, "subject": subject, "slot": slot, **_outcome(run.summary, run.stored_before)}


async def run_checks(app: App, *, job_key: str, family: str, items: list[list[Any]]) -> dict[str, Any]:
    """One check family for a batch of domains, `items` = [[domain, slot], …]; each domain's run stored once.

    Each domain keeps the run key of its own slot (`check_key`, what the scheduler claimed), so a
    batch delivered twice, or a domain in two batches, stores once.
    """
    subjects: dict[str, str | None] = {str(s): check_key(family, str(s), int(n)) for s, n in items}
    run = await run_batch(app, family, subjects, stored_only=True)
    return {"family": family, "subjects": len(subjects), "gone": run.gone, **_outcome(run.summary, run.stored_before)}


def _outcome(summary: RunSummary | None, stored_before: list[str]) -> dict[str, Any]:
    results = sum(len(s.checks) for s in [*summary.report.domains, *summary.report.ips]) if summary else 0
    transitions = summary.transitions if summary else []
    return {
        "results": results,
        "stored_before": stored_before,
        "transitions": [f"{t.subject} {t.check}: {t.old} -> {t.new}" for t in transitions],
    }


async def apply_plan(
    app: App,
    *,
    job_key: str,
    checksum: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    prune: bool = False,
    lock_timeout: float = 300.0,
    job_id: str | None = None,
    lease: float = 60.0,
) -> dict[str, Any]:
    """Re-plan and apply the stored desired state, enqueued directly (no job row; docs/scaling.md).

    With `checksum` the plan must still be the one that was shown; a re-delivered job re-plans
    and finds nothing left to do (apply converges). A refusal is a result, not a failure: a retry
    would only be refused again. With `job_id` it is an API apply queued by an earlier release
    (before the `apply` task): that job's row is run as `apply` runs it.
    """
    if job_id is not None:
        return await run_job(app, task=TASKS["apply"], job_key=job_key, job_id=job_id, lease=lease)
    try:
        result = await apply(
            app, checksum=checksum, only=only or (), force=force, prune=prune, lock_timeout=lock_timeout
        )
    except UserError as exc:
        return {"status": "refused", "error": str(exc), "job_key": job_key}
    return {"status": result.status, "job_key": job_key, "result": result.to_json()}


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        # 10 minutes: a batch's 100-list blocklist run or slow SMTP logins take minutes; a worker silent
        # for 30 s (no heartbeat) is taken for dead and its check runs elsewhere
        TaskSpec("run_checks", run_checks, timeout=600, heartbeat=30, retries=3),
        TaskSpec("run_check", run_check, timeout=600, heartbeat=30, retries=3),
        # a job row's run fails its job instead of raising, so `retries` only covers a lost worker
        TaskSpec("apply", apply_stored_plan, timeout=3600, heartbeat=60, retries=3, retry_delay=5.0, job_row=True),
        TaskSpec("apply_plan", apply_plan, timeout=3600, heartbeat=60, retries=3, retry_delay=5.0),
        # the overview's bulk re-check: up to 1,000 domains' DNS checks, a line of progress per batch of 25
        TaskSpec("recheck", recheck_domains, timeout=3600, heartbeat=60, retries=3, retry_delay=5.0, job_row=True),
    )
}

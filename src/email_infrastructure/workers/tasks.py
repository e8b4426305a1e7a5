"""Task bodies: each is one service call, safe to run twice (the queue delivers at least once).

A body takes the App, the job's key and its JSON parameters, and returns a JSON-safe result.
"""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.monitoring.monitor import RunSummary
from email_infrastructure.services.app import App
from email_infrastructure.workers.queue import TaskSpec


async def run_check(app: App, *, job_key: str, family: str, subject: str, slot: int | None = None) -> dict[str, Any]:
    """One check family for one domain; results stored once per job key (a job of an earlier release)."""
    from email_infrastructure.services.monitoring import run_batch

    run = await run_batch(app, family, {subject: job_key}, stored_only=True)
    if run.gone:
        return {"family": family, "subject": subject, "slot": slot, "skipped": "no longer in the desired state"}
    return {"family": family, "subject": subject, "slot": slot, **_outcome(run.summary, run.stored_before)}


async def run_checks(app: App, *, job_key: str, family: str, items: list[list[Any]]) -> dict[str, Any]:
    """One check family for a batch of domains, `items` = [[domain, slot], …]; each domain's run stored once.

    Each domain keeps the run key of its own slot (`check:<family>:<domain>:<slot>`, what the
    scheduler claimed), so a batch delivered twice, or a domain in two batches, stores once.
    """
    from email_infrastructure.services.monitoring import run_batch
    from email_infrastructure.workers.scheduler import check_key

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
    job_id: str | None = None,
    lease: float = 60.0,
    checksum: str | None = None,
    only: list[str] | None = None,
    force: bool = False,
    prune: bool = False,
    lock_timeout: float = 300.0,
) -> dict[str, Any]:
    """Re-plan and apply the stored desired state (the apply lock keeps two runs from racing).

    With `checksum` the plan must still be the one that was shown; a re-delivered job re-plans
    and finds nothing left to do (apply converges). A refusal is a result, not a failure: a
    retry would only be refused again.

    With `job_id` (an apply submitted through the API) the run is the API's job: it claims the
    job's row under a `lease` (seconds) renewed by its heartbeat, and writes status, progress,
    result and error there, so `GET /api/v1/jobs/{id}` reads it whichever process ran it.
    """
    from email_infrastructure.services.plans import apply

    if job_id is not None:
        from email_infrastructure.services.jobs import run_job

        job = await run_job(app, job_id, lease=lease)
        return {"status": job.status, "job_key": job_key, "job_id": job.id, "error": job.error}

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
        TaskSpec("apply_plan", apply_plan, timeout=3600, heartbeat=60, retries=3, retry_delay=5.0),
    )
}

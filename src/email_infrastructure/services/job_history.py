"""Plans and jobs as people read them: the history of plans and applies (who, when, result), and a
plan's steps or a job's outcomes with failures and changes first, the unchanged counted, not listed.

A plan of a fleet has a step per domain and component, nearly all unchanged on a normal day: the
pages lead with what failed and what changes, and fold the rest into a count (`sections`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import JobView
from email_infrastructure.storage.api_repositories import read_only
from email_infrastructure.storage.job_history_repositories import PLAN, JobEntry, JobHistory, PlanEntry

#: how many unchanged step keys a page lists inside its collapsed count (a fleet's plan has tens of thousands)
UNCHANGED_LISTED = 500
#: how much of a failed job's error the history shows
ERROR_SHOWN = 200


@dataclass(frozen=True)
class HistoryRow:
    """One plan or job of the history."""

    #: `plan`, or the job's kind (`apply`)
    kind: str
    id: str
    #: the API key that made the plan or started the job
    key_name: str
    created_at: datetime
    #: what came of it, in words: a plan's changes by action, a job's status (and error)
    result: str
    #: the badge's state: ok, error, warning (pending), unknown (running), none (nothing to do)
    state: str
    #: the page of the plan or job, without the workspace's base (`/plans/…`, `/jobs/…`)
    path: str
    #: a plan's apply job or a job's plan: (label, path), when there is one
    related: tuple[str, str] | None = None


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history, newest first."""

    rows: list[HistoryRow]
    total: int
    page: int
    pages: int


_JOB_STATE = {"succeeded": "ok", "failed": "error", "running": "unknown", "queued": "unknown"}


def _summary_text(summary: dict[str, Any] | None) -> str:
    counts = {str(k): v for k, v in (summary or {}).items() if isinstance(v, int) and v}
    return ", ".join(f"{v} {k}" for k, v in counts.items()) or "no changes"


def _plan_row(plan: PlanEntry, applied: JobEntry | None) -> HistoryRow:
    result = _summary_text(plan.summary)
    if applied is not None:
        state = _JOB_STATE.get(applied.status, "unknown")
        related: tuple[str, str] | None = (f"apply {applied.status}", f"/jobs/{applied.id}")
    else:
        state = "none" if result == "no changes" else "warning"
        related = None
    return HistoryRow(PLAN, plan.id, plan.key_name, plan.created_at, result, state, f"/plans/{plan.id}", related)


def _job_row(job: JobEntry) -> HistoryRow:
    result = job.status
    if job.error:
        error = job.error if len(job.error) <= ERROR_SHOWN else job.error[: ERROR_SHOWN - 1] + "…"
        result = f"{job.status}: {error}"
    plan = job.params.get("plan")
    related = ("the plan", f"/plans/{plan}") if isinstance(plan, str) and plan else None
    state = _JOB_STATE.get(job.status, "unknown")
    return HistoryRow(job.kind, job.id, job.key_name, job.created_at, result, state, f"/jobs/{job.id}", related)


async def history(app: App, *, page: int = 1, per_page: int = 50) -> HistoryPage:
    """A page of the plans and jobs of the workspace acted in, newest first."""
    if not app.has_state():
        return HistoryPage([], 0, 1, 1)
    async with app.uow() as uow:
        await read_only(uow.session)
        repo = JobHistory(uow.session)
        total = await repo.count()
        keys = await repo.page(limit=per_page, offset=(page - 1) * per_page)
        plan_ids = [id_ for kind, id_ in keys if kind == PLAN]
        plans = {p.id: p for p in await repo.plans(plan_ids)}
        jobs = {j.id: j for j in await repo.jobs([id_ for kind, id_ in keys if kind != PLAN])}
        # a plan's apply is submitted under `apply:<plan id>` (services/plans.submit_apply)
        applies = {j.job_key: j for j in await repo.by_job_keys([f"apply:{p}" for p in plan_ids])}
    rows: list[HistoryRow] = []
    for kind, id_ in keys:
        if kind == PLAN and id_ in plans:
            rows.append(_plan_row(plans[id_], applies.get(f"apply:{id_}")))
        elif id_ in jobs:
            rows.append(_job_row(jobs[id_]))
    return HistoryPage(rows, total, page, max(1, -(-total // per_page)))


@dataclass
class Sections:
    """A plan's steps or a job's outcomes, in the order a page shows them: failures, changes, the rest."""

    #: steps that failed to plan, or outcomes that failed
    failed: list[dict[str, Any]] = field(default_factory=list)
    #: steps with changes, or outcomes applied
    changed: list[dict[str, Any]] = field(default_factory=list)
    #: plan steps with notes and no change; outcomes skipped (a step they depend on failed)
    other: list[dict[str, Any]] = field(default_factory=list)
    #: how many steps change nothing
    unchanged: int = 0
    #: the first `UNCHANGED_LISTED` of their keys, for the collapsed list
    unchanged_keys: list[str] = field(default_factory=list)

    def count_unchanged(self, key: str) -> None:
        """One more step that changes nothing (its key listed while the list is short)."""
        self.unchanged += 1
        if len(self.unchanged_keys) < UNCHANGED_LISTED:
            self.unchanged_keys.append(key)


def plan_sections(plan: dict[str, Any]) -> Sections:
    """A plan's steps: errors first, then changes, then notes; unchanged steps only counted."""
    made = Sections()
    for step in plan.get("steps", []):
        if step.get("error"):
            made.failed.append(step)
        elif step.get("changes"):
            made.changed.append(step)
        elif step.get("notes"):
            made.other.append(step)
        else:
            made.count_unchanged(str(step.get("key", "")))
    return made


def job_sections(job: JobView) -> Sections:
    """A job's outcomes by step: failed first, then applied, then skipped; unchanged only counted."""
    made = Sections()
    outcomes = (job.result or {}).get("outcomes", {})
    for key, outcome in sorted(outcomes.items()):
        row = {"key": key, **outcome}
        status = outcome.get("status")
        if status == "failed":
            made.failed.append(row)
        elif status == "unchanged":
            made.count_unchanged(key)
        elif status == "applied":
            made.changed.append(row)
        else:
            made.other.append(row)
    return made


__all__ = ["UNCHANGED_LISTED", "HistoryPage", "HistoryRow", "Sections", "history", "job_sections", "plan_sections"]

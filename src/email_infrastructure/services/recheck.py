"""Re-checking many domains as one job (the overview's bulk re-check): one row in `jobs`, progress per batch."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import JobView, submit
from email_infrastructure.services.monitoring import run_batch
from email_infrastructure.services.overview import OverviewQuery, matching_names
from email_infrastructure.services.queue import Report, TaskQueue

#: domains one bulk re-check runs at most (the page says so): a larger set is narrowed by its filters first
RECHECK_LIMIT = 1_000
#: domains checked per stored batch (a line of progress each)
BATCH = 25
#: the family a re-check runs: the DNS checks, as a domain page's re-check
FAMILY = "dns"


async def submit_recheck(
    app: App, queue: TaskQueue, query: OverviewQuery, *, key_name: str, limit: int = RECHECK_LIMIT
) -> tuple[JobView, int]:
    """Start re-checking the first `limit` domains `query` selects as one job; the job and how many matched."""
    names, matching = await matching_names(app, query, limit)
    if not names:
        raise UserError("no domain matches these filters: nothing to re-check")
    job, _created = await submit(app, queue, "recheck", {"domains": names, "family": FAMILY}, key_name=key_name)
    return job, matching


async def recheck_domains(
    app: App, *, domains: list[str], family: str = FAMILY, progress: Report | None = None, resumed: bool = False
) -> dict[str, Any]:
    """Run `family` for `domains` in batches, each stored as it finishes (a job's body; a resumed run checks
    them all again: a check is safe to repeat)."""
    checked, gone, transitions = 0, [], []
    for start in range(0, len(domains), BATCH):
        batch = domains[start : start + BATCH]
        run = await run_batch(app, family, dict.fromkeys(batch), stored_only=True)
        gone += run.gone
        checked += len(batch) - len(run.gone)
        if run.summary is not None:
            transitions += [f"{t.subject} {t.check}: {t.old} -> {t.new}" for t in run.summary.transitions]
        if progress is not None:
            progress(f"checked {start + len(batch)} of {len(domains)} domains")
    return {"domains": len(domains), "checked": checked, "gone": gone, "transitions": transitions[:200]}


__all__ = ["BATCH", "FAMILY", "RECHECK_LIMIT", "recheck_domains", "submit_recheck"]

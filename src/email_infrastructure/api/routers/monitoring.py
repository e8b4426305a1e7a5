"""`/api/v1/monitoring/results`: latest check states, history, and a check run now (services/monitoring.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from email_infrastructure.api.deps import AppDep, ReadKey, WriteKey
from email_infrastructure.api.schemas import CheckResultOut, CheckRunIn, CheckStateOut, Envelope, RunOut, ok

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
Filter = Annotated[str | None, Query(max_length=253)]


@router.get("/results", response_model=Envelope[list[CheckStateOut]])
async def latest_results(
    app: AppDep, key: ReadKey, subject: Filter = None, check: Filter = None
) -> Envelope[list[CheckStateOut]]:
    """The latest state of every (subject, check), optionally of one subject or check."""
    from email_infrastructure.services.monitoring import check_states

    states = await check_states(app) if app.has_state() else []
    return ok(
        [
            CheckStateOut(
                subject=s.subject,
                check=s.check,
                status=s.status,
                since=s.since.isoformat(),
                checked_at=s.checked_at.isoformat(),
                summary=s.summary,
            )
            for s in states
            if (subject is None or s.subject == subject) and (check is None or s.check == check)
        ]
    )


@router.get("/results/history", response_model=Envelope[list[CheckResultOut]])
async def result_history(
    app: AppDep,
    key: ReadKey,
    subject: Annotated[str, Query(min_length=1, max_length=253)],
    check: Annotated[str, Query(min_length=1, max_length=32)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Envelope[list[CheckResultOut]]:
    """The newest results of one (subject, check)."""
    from email_infrastructure.services.history import check_history

    rows = await check_history(app, subject, check, limit)
    return ok(
        [
            CheckResultOut(
                subject=r.subject,
                check=r.check,
                status=r.status,
                checked_at=r.checked_at.isoformat(),
                findings=r.findings,
            )
            for r in rows
        ]
    )


@router.post("/results", response_model=Envelope[RunOut])
async def run_check(app: AppDep, key: WriteKey, body: CheckRunIn) -> Envelope[RunOut]:
    """Run one family of checks for one domain of the desired state now, and record the results."""
    from email_infrastructure.core.errors import NotFoundError
    from email_infrastructure.monitoring.monitor import FAMILIES, family_name
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.monitoring import run_checks

    family = family_name(body.family)
    view = await show_domain(app, body.domain)
    summary = await run_checks(app, view.name, family, stored_only=True)
    if summary is None:  # removed between the look-up and the run
        raise NotFoundError(f"domain {view.name} is not in the desired state")
    subjects = {s.subject for s in summary.report.domains}
    return ok(
        RunOut(
            family=summary.family,
            checks=sorted(FAMILIES[family]),
            subjects=len(subjects),
            transitions=len(summary.transitions),
        )
    )

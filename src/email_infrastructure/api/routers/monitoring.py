"""`/api/v1/monitoring/results`: latest check states, history, and a check run now (services/monitoring.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from email_infrastructure.api.deps import AppDep, ReadKey, WriteKey
from email_infrastructure.api.schemas import (
    CheckResultList,
    CheckResultOut,
    CheckRunIn,
    CheckStateList,
    CheckStateOut,
    Envelope,
    RunOut,
    ok,
)

router = APIRouter(prefix="/monitoring", tags=["monitoring"])
Filter = Annotated[str | None, Query(max_length=253)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]


@router.get("/results", response_model=Envelope[CheckStateList])
async def latest_results(
    app: AppDep, key: ReadKey, subject: Filter = None, check: Filter = None, limit: Limit = 50, offset: Offset = 0
) -> Envelope[CheckStateList]:
    """A page of the latest state of every (subject, check), optionally of one subject or check, with the total."""
    from email_infrastructure.services.history import check_states_page

    states, total = await check_states_page(app, subject=subject, check=check, limit=limit, offset=offset)
    items = [
        CheckStateOut(
            subject=s.subject,
            check=s.check,
            status=s.status,
            since=s.since.isoformat(),
            checked_at=s.checked_at.isoformat(),
            summary=s.summary,
        )
        for s in states
    ]
    return ok(CheckStateList(items=items, total=total, limit=limit, offset=offset))


@router.get("/results/history", response_model=Envelope[CheckResultList])
async def result_history(
    app: AppDep,
    key: ReadKey,
    subject: Annotated[str, Query(min_length=1, max_length=253)],
    check: Annotated[str, Query(min_length=1, max_length=32)],
    limit: Limit = 50,
    offset: Offset = 0,
) -> Envelope[CheckResultList]:
    """A page of the results of one (subject, check), newest first, with the total."""
    from email_infrastructure.services.history import check_history

    rows, total = await check_history(app, subject, check, limit, offset)
    items = [
        CheckResultOut(
            subject=r.subject, check=r.check, status=r.status, checked_at=r.checked_at.isoformat(), findings=r.findings
        )
        for r in rows
    ]
    return ok(CheckResultList(items=items, total=total, limit=limit, offset=offset))


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

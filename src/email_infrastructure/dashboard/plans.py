"""Plan and apply from the browser: the same stored-plan and job services as `/api/v1/plans`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, link, redirect, render
from email_infrastructure.dashboard.session import check_csrf
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App
from email_infrastructure.services.job_history import history, job_sections, plan_sections
from email_infrastructure.services.jobs import get_job
from email_infrastructure.services.plans import get_stored_plan, plan_and_store, submit_apply
from email_infrastructure.services.queue import TaskQueue

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
#: how often the job page asks for progress while the job runs
POLL = "1s"
#: plans and jobs per page of the history
PER_PAGE = 50


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/plan")
async def plan_start(request: Request, who: Member) -> Response:
    """Where a plan is made."""
    return render(request, "plan.html", job=None, plan=None, sections=None)


@router.post("/plan")
async def make_plan(request: Request, who: Member, form: Form) -> Response:
    """Plan the stored desired state (writes nothing at the providers) and keep it to apply by id."""
    assert who.key is not None
    stored = await plan_and_store(_app(request), key_name=who.key.name)
    return redirect(link(request, f"/plans/{stored.id}"))


@router.get("/plans/{plan_id}")
async def plan_page(request: Request, who: Member, plan_id: str) -> Response:
    """A plan's failures and pending changes first, unchanged steps counted; for a write key, its Apply button."""
    stored = await get_stored_plan(_app(request), plan_id)
    return render(request, "plan.html", job=stored, plan=stored.plan, sections=plan_sections(stored.plan))


@router.post("/plans/{plan_id}/apply")
async def apply_plan(request: Request, who: Member, form: Form, plan_id: str) -> Response:
    """Start the apply job (write scope); it re-plans and refuses if the plan changed since it was shown."""
    assert who.key is not None
    require(who.key, "write")
    queue: TaskQueue = request.app.state.runner
    job = await submit_apply(_app(request), queue, plan_id, key_name=who.key.name)
    return redirect(link(request, f"/jobs/{job.id}"))


@router.get("/jobs")
async def jobs_page(request: Request, who: Member, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """The history of plans and jobs (who, when, result), newest first, in pages."""
    found = await history(_app(request), page=page, per_page=PER_PAGE)
    return render(request, "jobs.html", history=found)


@router.get("/jobs/{job_id}")
async def job_page(request: Request, who: Member, job_id: str) -> Response:
    """A job with live progress (htmx polls the fragment below until the job is done)."""
    job = await get_job(_app(request), job_id)
    return render(request, "job.html", job=job, sections=job_sections(job), poll=POLL)


@router.get("/jobs/{job_id}/progress")
async def job_progress(request: Request, who: Member, job_id: str) -> Response:
    """The job's status fragment; without a polling trigger once the job is done."""
    job = await get_job(_app(request), job_id)
    return render(request, "_job.html", job=job, sections=job_sections(job), poll=POLL)

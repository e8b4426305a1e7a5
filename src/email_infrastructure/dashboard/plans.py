"""Plan and apply from the browser: the same stored-plan and job services as `/api/v1/plans`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, link, redirect, render
from email_infrastructure.dashboard.session import check_csrf
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import JobView, get_job
from email_infrastructure.services.plans import get_stored_plan, plan_and_store, submit_apply
from email_infrastructure.services.queue import TaskQueue

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
#: how often the job page asks for progress while the job runs
POLL = "1s"


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


def _changes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps that would change something, failed to plan, or have something to say."""
    return [s for s in plan.get("steps", []) if s.get("changes") or s.get("error") or s.get("notes")]


@router.get("/plan")
async def plan_start(request: Request, who: Member) -> Response:
    """Where a plan is made."""
    return render(request, "plan.html", job=None, plan=None, steps=[])


@router.post("/plan")
async def make_plan(request: Request, who: Member, form: Form) -> Response:
    """Plan the stored desired state (writes nothing at the providers) and keep it to apply by id."""
    assert who.key is not None
    stored = await plan_and_store(_app(request), key_name=who.key.name)
    return redirect(link(request, f"/plans/{stored.id}"))


@router.get("/plans/{plan_id}")
async def plan_page(request: Request, who: Member, plan_id: str) -> Response:
    """A plan's pending changes and, for a write key, its Apply button."""
    stored = await get_stored_plan(_app(request), plan_id)
    return render(request, "plan.html", job=stored, plan=stored.plan, steps=_changes(stored.plan))


@router.post("/plans/{plan_id}/apply")
async def apply_plan(request: Request, who: Member, form: Form, plan_id: str) -> Response:
    """Start the apply job (write scope); it re-plans and refuses if the plan changed since it was shown."""
    assert who.key is not None
    require(who.key, "write")
    queue: TaskQueue = request.app.state.runner
    job = await submit_apply(_app(request), queue, plan_id, key_name=who.key.name)
    return redirect(link(request, f"/jobs/{job.id}"))


def _outcomes(job: JobView) -> list[dict[str, Any]]:
    outcomes = (job.result or {}).get("outcomes", {})
    return [{"key": k, **v} for k, v in sorted(outcomes.items())]


@router.get("/jobs/{job_id}")
async def job_page(request: Request, who: Member, job_id: str) -> Response:
    """A job with live progress (htmx polls the fragment below until the job is done)."""
    job = await get_job(_app(request), job_id)
    return render(request, "job.html", job=job, outcomes=_outcomes(job), poll=POLL)


@router.get("/jobs/{job_id}/progress")
async def job_progress(request: Request, who: Member, job_id: str) -> Response:
    """The job's status fragment; without a polling trigger once the job is done."""
    job = await get_job(_app(request), job_id)
    return render(request, "_job.html", job=job, outcomes=_outcomes(job), poll=POLL)

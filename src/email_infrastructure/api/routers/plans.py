"""`/api/v1/plans`: plan the stored desired state (services/plans.py), then apply it by id as a background job."""

from __future__ import annotations

from fastapi import APIRouter, status

from email_infrastructure.api.deps import AppDep, ReadCreateKey, ReadKey, RunnerDep, WriteKey
from email_infrastructure.api.routers.jobs import job_out
from email_infrastructure.api.schemas import Envelope, JobOut, PlanOut, ok
from email_infrastructure.services.jobs import JobView, get_job, store_plan, submit

router = APIRouter(prefix="/plans", tags=["plans"])


def _plan_out(job: JobView) -> PlanOut:
    plan = job.result or {}
    summary = {str(k): int(v) for k, v in (plan.get("summary") or {}).items()}
    return PlanOut(
        id=job.id,
        checksum=str(plan.get("checksum", "")),
        has_changes=any(v for k, v in summary.items() if k != "unchanged"),
        summary=summary,
        plan=plan,
    )


@router.post("", response_model=Envelope[PlanOut], status_code=status.HTTP_201_CREATED)
async def create_plan(app: AppDep, key: ReadCreateKey) -> Envelope[PlanOut]:
    """Plan the stored desired state against every provider (writes nothing there) and keep the plan."""
    from email_infrastructure.services.plans import plan

    planned = await plan(app)
    data = planned.to_json()
    job = await store_plan(app, data, key_name=key.name)
    out = _plan_out(job)
    out.has_changes = planned.has_changes
    return ok(out)


@router.get("/{plan_id}", response_model=Envelope[PlanOut])
async def read_plan(app: AppDep, key: ReadKey, plan_id: str) -> Envelope[PlanOut]:
    """A plan made earlier."""
    return ok(_plan_out(await get_job(app, plan_id, kind="plan")))


@router.post("/{plan_id}/apply", response_model=Envelope[JobOut], status_code=status.HTTP_202_ACCEPTED)
async def apply_plan(app: AppDep, runner: RunnerDep, key: WriteKey, plan_id: str) -> Envelope[JobOut]:
    """Apply a plan as a job (poll `/api/v1/jobs/{id}`); it re-plans and refuses if the checksum changed.

    Applying the same plan again returns the same job.
    """
    planned = await get_job(app, plan_id, kind="plan")
    checksum = str((planned.result or {}).get("checksum", ""))
    job, created = await submit(
        app, "apply", {"plan": plan_id, "checksum": checksum}, key_name=key.name, job_key=f"apply:{plan_id}"
    )
    if created:
        await runner.enqueue(job.id)
    return ok(job_out(job))

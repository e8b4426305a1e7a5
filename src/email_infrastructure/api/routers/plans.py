"""`/api/v1/plans`: plan the stored desired state and keep the plan, then apply it by id as a background job
(services/plans.py)."""

from __future__ import annotations

from fastapi import APIRouter, status

from email_infrastructure.api.deps import AppDep, ReadCreateKey, ReadKey, RunnerDep, WriteKey
from email_infrastructure.api.routers.jobs import job_out
from email_infrastructure.api.schemas import Envelope, JobOut, PlanOut, ok
from email_infrastructure.services.plans import StoredPlan, get_stored_plan, plan_and_store, submit_apply

router = APIRouter(prefix="/plans", tags=["plans"])


def plan_out(stored: StoredPlan) -> PlanOut:
    """A stored plan as the API shows it."""
    return PlanOut(
        id=stored.id,
        checksum=stored.checksum,
        has_changes=stored.has_changes,
        summary=stored.summary,
        plan=stored.plan,
    )


@router.post("", response_model=Envelope[PlanOut], status_code=status.HTTP_201_CREATED)
async def create_plan(app: AppDep, key: ReadCreateKey) -> Envelope[PlanOut]:
    """Plan the stored desired state against every provider (writes nothing there) and keep the plan."""
    return ok(plan_out(await plan_and_store(app, key_name=key.name)))


@router.get("/{plan_id}", response_model=Envelope[PlanOut])
async def read_plan(app: AppDep, key: ReadKey, plan_id: str) -> Envelope[PlanOut]:
    """A plan made earlier."""
    return ok(plan_out(await get_stored_plan(app, plan_id)))


@router.post("/{plan_id}/apply", response_model=Envelope[JobOut], status_code=status.HTTP_202_ACCEPTED)
async def apply_plan(app: AppDep, runner: RunnerDep, key: WriteKey, plan_id: str) -> Envelope[JobOut]:
    """Apply a plan as a job (poll `/api/v1/jobs/{id}`); it re-plans and refuses if the checksum changed.

    Applying the same plan again returns the same job.
    """
    return ok(job_out(await submit_apply(app, runner, plan_id, key_name=key.name)))

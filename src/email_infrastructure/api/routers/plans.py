"""`/api/v1/plans`: plan the stored desired state and keep the plan, then apply it by id as a background job
(services/plans.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status

from email_infrastructure.api.deps import AppDep, Guard, ReadCreateKey, ReadKey, RunnerDep, WriteKey
from email_infrastructure.api.routers.jobs import job_out
from email_infrastructure.api.schemas import Envelope, JobOut, PlanOut, ok
from email_infrastructure.services.apikeys import KeyInfo
from email_infrastructure.services.plans import StoredPlan, get_stored_plan, plan_and_store, submit_apply

router = APIRouter(prefix="/plans", tags=["plans"])
#: admin scope, the write limit: spending money is an admin's decision
BuyKey = Annotated[KeyInfo, Depends(Guard("admin", "write"))]


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


@router.post("/{plan_id}/buy", response_model=Envelope[JobOut], status_code=status.HTTP_202_ACCEPTED)
async def apply_plan_buying(app: AppDep, runner: RunnerDep, key: BuyKey, plan_id: str) -> Envelope[JobOut]:
    """Apply a plan as a job and buy its domains (`apply --buy`): admin scope only.

    All of the plan's purchases are made, or none: each within its `max_price`, the total within the
    desired state's `register_budget`, the registrars' balances enough. Each purchase is an audit
    event (`registrar.domain.registered`) with its price.
    """
    return ok(job_out(await submit_apply(app, runner, plan_id, key_name=key.name, buy=True)))

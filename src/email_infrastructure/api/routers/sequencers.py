"""`/api/v1/sequencers`: what each sequencer holds of our mailboxes, and the sync that pushes them
(services/sequencer_accounts.py).

`GET /accounts` is read scope, like the mailbox routes that show no credential: nothing there reads the
vault, and the platforms' answers are reduced to health and settings before they leave the service.
A sync is planned like `/plans` (read scope that may create: the plan is kept, nothing is written at a
platform) and applied like `/plans/{id}/apply` (write scope, a job); passwords go from the vault to the
platform inside the job and never into a plan or a response.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from email_infrastructure.api.deps import AppDep, ReadCreateKey, ReadKey, RunnerDep, WriteKey
from email_infrastructure.api.routers.jobs import job_out
from email_infrastructure.api.routers.plans import plan_out
from email_infrastructure.api.schemas import Envelope, JobOut, PlanOut, SequencerAccounts, SequencerSyncIn, ok

router = APIRouter(prefix="/sequencers", tags=["sequencers"])


@router.get("/accounts", response_model=Envelope[SequencerAccounts])
async def sequencer_accounts(
    app: AppDep,
    key: ReadKey,
    sequencer: Annotated[str | None, Query(max_length=64, description="only this sequencer")] = None,
    domain: Annotated[list[str] | None, Query(max_length=100, description="only these domains")] = None,
) -> Envelope[SequencerAccounts]:
    """Each sequencer's accounts of our mailboxes: present (health, differing settings), missing or unknown."""
    from email_infrastructure.services.sequencer_accounts import accounts_view

    view = await accounts_view(app, sequencer=sequencer, domains=domain or ())
    return ok(
        SequencerAccounts.model_validate(
            {"sequencers": [s.to_json() for s in view.sequencers], "accounts": [r.to_json() for r in view.rows]}
        )
    )


@router.post("/sync/plan", response_model=Envelope[PlanOut], status_code=status.HTTP_201_CREATED)
async def plan_sync(app: AppDep, key: ReadCreateKey, body: SequencerSyncIn) -> Envelope[PlanOut]:
    """Plan the sequencer steps alone and keep the plan (apply it by id at `/plans/{id}/apply`)."""
    from email_infrastructure.services.sequencer_accounts import plan_sync

    return ok(plan_out(await plan_sync(app, key_name=key.name, **body.model_dump())))


@router.post("/sync", response_model=Envelope[JobOut], status_code=status.HTTP_202_ACCEPTED)
async def run_sync(app: AppDep, runner: RunnerDep, key: WriteKey, body: SequencerSyncIn) -> Envelope[JobOut]:
    """Push mailboxes to their sequencers now: the sequencer steps planned, kept and applied as a job."""
    from email_infrastructure.services.sequencer_accounts import submit_sync

    return ok(job_out(await submit_sync(app, runner, key_name=key.name, **body.model_dump())))

"""`/api/v1/changes`: one change to one domain shown as its plan, then written and applied as a job
(services/changes.py, what the dashboard's forms do)."""

from __future__ import annotations

from fastapi import APIRouter, status

from email_infrastructure.api.deps import AppDep, RunnerDep, WriteKey, actor
from email_infrastructure.api.routers.jobs import job_out
from email_infrastructure.api.schemas import ChangeConfirmIn, ChangeIn, ChangeOut, ChangePreviewOut, Envelope, ok
from email_infrastructure.services.changes import confirm, preview
from email_infrastructure.services.domain_edits import DomainEdit

router = APIRouter(prefix="/changes", tags=["changes"])


def _edit(body: ChangeIn) -> DomainEdit:
    return DomainEdit(
        body.action,
        body.domain,
        dict(body.options),
        [m.model_dump(exclude_none=True) for m in body.mailboxes],
        count=body.count,
        pattern=body.pattern,
        remove=list(body.remove),
        dmarc_policy=body.dmarc_policy,
    )


@router.post("/preview", response_model=Envelope[ChangePreviewOut])
async def preview_change(app: AppDep, key: WriteKey, body: ChangeIn) -> Envelope[ChangePreviewOut]:
    """The plan the change would cause, its domain alone; writes nothing (409: another owner's domain)."""
    shown = await preview(app, _edit(body))
    return ok(
        ChangePreviewOut(
            domain=shown.name,
            stamp=shown.stamp,
            checksum=shown.checksum,
            plan=shown.plan,
            spec=shown.spec,
            mailboxes=shown.mailboxes,
            added=shown.added,
            removed=shown.removed,
            deletes=shown.deletes,
            unsafe=shown.unsafe,
            failed=shown.failed,
        )
    )


@router.post("", response_model=Envelope[ChangeOut], status_code=status.HTTP_202_ACCEPTED)
async def apply_change(app: AppDep, runner: RunnerDep, key: WriteKey, body: ChangeConfirmIn) -> Envelope[ChangeOut]:
    """Write a previewed change and apply its plan as a job (poll `/api/v1/jobs/{id}`); 409 when the desired
    state or the plan moved since the preview; a removal needs `confirmed`, the domain's name again."""
    done = await confirm(
        app,
        runner,
        _edit(body),
        stamp=body.stamp,
        checksum=body.checksum,
        key_name=key.name,
        source=actor(key),
        confirmed=body.confirmed,
    )
    job = job_out(done.job) if done.job is not None else None
    return ok(ChangeOut(domain=done.view.name, plan_id=done.plan_id, job=job))

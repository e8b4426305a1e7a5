"""`GET /api/v1/jobs/{id}`: poll a background job (services/jobs.py)."""

from __future__ import annotations

from fastapi import APIRouter

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, JobOut, ok
from email_infrastructure.services.jobs import JobView, get_job

router = APIRouter(prefix="/jobs", tags=["jobs"])


def job_out(job: JobView) -> JobOut:
    """The response model of a job."""
    return JobOut.model_validate(job.to_json())


@router.get("/{job_id}", response_model=Envelope[JobOut])
async def read_job(app: AppDep, key: ReadKey, job_id: str) -> Envelope[JobOut]:
    """A job: status queued, running, succeeded or failed; progress; result or error."""
    return ok(job_out(await get_job(app, job_id)))

"""Reads of the stored plans and jobs as one history, newest first (the dashboard's `/jobs`).

Bound to one session, never committing, like every repository. The history is one UNION ALL of
the two tables' keys ordered and paged in SQL; the page's rows are then read by id, so a plan's
body (tens of megabytes for a large fleet) is never read for the list: only its `summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import JobRecord, StoredPlanRecord
from email_infrastructure.storage.scoping import bound_workspace

#: the `kind` of a history entry that is a stored plan (a job's is its task name, e.g. `apply`)
PLAN = "plan"


@dataclass(frozen=True)
class PlanEntry:
    """A stored plan as the history lists it: no steps, only what it would change by action."""

    id: str
    key_name: str
    created_at: datetime
    checksum: str
    summary: dict[str, Any] | None


@dataclass(frozen=True)
class JobEntry:
    """A job as the history lists it: no result (an apply's outcomes name every step of the fleet)."""

    id: str
    kind: str
    status: str
    key_name: str
    created_at: datetime
    finished_at: datetime | None
    error: str | None
    params: dict[str, Any]
    job_key: str | None


_JOB_COLUMNS = (
    JobRecord.id,
    JobRecord.kind,
    JobRecord.status,
    JobRecord.key_name,
    JobRecord.created_at,
    JobRecord.finished_at,
    JobRecord.error,
    JobRecord.params,
    JobRecord.job_key,
)


class JobHistory:
    """The `stored_plans` and `jobs` tables read together, newest first."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _keys(self) -> Any:
        """(kind, id, created_at) of every plan and job of the session's workspace, as one subquery.

        A UNION is a Core compound: the session's workspace filter is written here as well, as
        DomainPages does for its Core statements, rather than trusted to reach inside it.
        """
        workspace = bound_workspace(self._session)
        # a constant of ours, written into the SQL: a bound parameter in a UNION has no type PostgreSQL can infer
        kind = literal_column(f"'{PLAN}'", String).label("kind")
        plans = select(kind, StoredPlanRecord.id, StoredPlanRecord.created_at)
        jobs = select(JobRecord.kind.label("kind"), JobRecord.id, JobRecord.created_at)
        if workspace is not None:
            plans = plans.where(StoredPlanRecord.workspace_id == workspace)
            jobs = jobs.where(JobRecord.workspace_id == workspace)
        return union_all(plans, jobs).subquery("history")

    async def page(self, *, limit: int, offset: int) -> list[tuple[str, str]]:
        """(kind, id) of one page, newest first (ties broken by id, so pages never overlap)."""
        keys = self._keys()
        query = (
            select(keys.c.kind, keys.c.id)
            .order_by(keys.c.created_at.desc(), keys.c.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(str(kind), str(id_)) for kind, id_ in (await self._session.execute(query)).all()]

    async def count(self) -> int:
        """How many plans and jobs there are."""
        keys = self._keys()
        return int(await self._session.scalar(select(func.count()).select_from(keys)) or 0)

    async def plans(self, ids: Sequence[str]) -> list[PlanEntry]:
        """The plans of `ids` without their steps (the JSON's `summary` is extracted in SQL)."""
        if not ids:
            return []
        query = select(
            StoredPlanRecord.id,
            StoredPlanRecord.key_name,
            StoredPlanRecord.created_at,
            StoredPlanRecord.checksum,
            StoredPlanRecord.plan["summary"],
        ).where(StoredPlanRecord.id.in_(list(ids)))
        rows = (await self._session.execute(query)).all()
        return [PlanEntry(r[0], r[1], r[2], r[3], r[4] if isinstance(r[4], dict) else None) for r in rows]

    async def jobs(self, ids: Sequence[str]) -> list[JobEntry]:
        """The jobs of `ids`, without their results."""
        if not ids:
            return []
        return await self._entries(select(*_JOB_COLUMNS).where(JobRecord.id.in_(list(ids))))

    async def by_job_keys(self, job_keys: Sequence[str]) -> list[JobEntry]:
        """The jobs submitted under these idempotency keys (a plan's apply is `apply:<plan id>`)."""
        if not job_keys:
            return []
        return await self._entries(select(*_JOB_COLUMNS).where(JobRecord.job_key.in_(list(job_keys))))

    async def _entries(self, query: Any) -> list[JobEntry]:
        rows = (await self._session.execute(query)).all()
        return [
            JobEntry(
                id=row[0],
                kind=row[1],
                status=row[2],
                key_name=row[3],
                created_at=row[4],
                finished_at=row[5],
                error=row[6],
                params=dict(row[7] or {}),
                job_key=row[8],
            )
            for row in rows
        ]


__all__ = ["PLAN", "JobEntry", "JobHistory", "PlanEntry"]

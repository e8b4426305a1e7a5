"""Repositories of the REST API's tables (API keys, jobs) and its paged reads of the desired state.

Kept apart from repositories.py so that the API's additions merge cleanly; the same rules hold:
bound to one session, never committing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, case, func, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from email_infrastructure.core.database import READ_ONLY
from email_infrastructure.storage.models import (
    ApiKey,
    CheckState,
    DesiredSetting,
    Domain,
    EventRecord,
    JobRecord,
    Provider,
    Server,
)
from email_infrastructure.storage.repositories import DesiredRows


async def read_only(session: AsyncSession) -> None:
    """Mark the session's transaction as one that only reads; call before its first query."""
    await session.connection(execution_options={READ_ONLY: True})


#: worst first: a domain's status is the worst of its check states ("unknown" when never checked)
_RANK = {"error": 3, "warning": 2, "ok": 1}


class ApiKeys:
    """The `api_keys` table (hashes only)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, row: ApiKey) -> None:
        """Stage a new key."""
        self._session.add(row)

    async def by_name(self, name: str) -> ApiKey | None:
        """One key by its name."""
        return await self._session.scalar(select(ApiKey).where(ApiKey.name == name))

    async def by_prefix(self, prefix: str) -> Sequence[ApiKey]:
        """Keys whose public prefix is `prefix` (almost always one)."""
        return (await self._session.scalars(select(ApiKey).where(ApiKey.prefix == prefix))).all()

    async def all(self) -> Sequence[ApiKey]:
        """Every key, by name."""
        return (await self._session.scalars(select(ApiKey).order_by(ApiKey.name))).all()

    async def flush(self) -> None:
        """Send staged rows now: a duplicate name surfaces as IntegrityError here."""
        await self._session.flush()


class Jobs:
    """The `jobs` table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, job_id: str) -> JobRecord | None:
        """One job."""
        return await self._session.get(JobRecord, job_id)

    async def by_job_key(self, job_key: str) -> JobRecord | None:
        """The job submitted under an idempotency key."""
        return await self._session.scalar(select(JobRecord).where(JobRecord.job_key == job_key))

    def add(self, row: JobRecord) -> None:
        """Stage a job (a taken `job_key` fails the commit with IntegrityError)."""
        self._session.add(row)

    async def unfinished(self) -> Sequence[JobRecord]:
        """Queued and running jobs, oldest first (what a restarted runner finds)."""
        query = select(JobRecord).where(JobRecord.status.in_(("queued", "running"))).order_by(JobRecord.created_at)
        return (await self._session.scalars(query)).all()


class DomainPages:
    """Paged, filtered reads of the desired state's domains (the API's list, without the whole snapshot)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def fleet(self) -> DesiredRows:
        """Providers, servers and fleet settings, without any domain (what a page's views need)."""
        s = self._session
        providers = (await s.scalars(select(Provider).order_by(Provider.kind, Provider.name))).all()
        servers = (await s.scalars(select(Server).order_by(Server.name))).all()
        settings = {row.key: row for row in (await s.scalars(select(DesiredSetting))).all()}
        return DesiredRows(list(providers), list(servers), settings, [])

    async def page(
        self,
        *,
        limit: int,
        offset: int,
        provider: str | None = None,
        server: str | None = None,
        status: str | None = None,
    ) -> tuple[list[Domain], int, dict[str, str]]:
        """A page of domains by name, the total matching, and each page domain's status."""
        rank = func.max(case(*((CheckState.status == s, r) for s, r in _RANK.items()), else_=0))

        def narrowed(query: Select[Any]) -> Select[Any]:
            if provider is not None:
                query = query.where(Domain.dns_provider == provider)
            if server is not None:
                query = query.join(Server, Server.id == Domain.server_id).where(Server.name == server)
            if status is not None:
                # only a status filter needs the check states of every domain
                ranks = select(CheckState.subject, rank.label("rank")).group_by(CheckState.subject).subquery()
                query = query.outerjoin(ranks, ranks.c.subject == Domain.name)
                if status == "unknown":
                    query = query.where(func.coalesce(ranks.c.rank, 0) == 0)
                else:
                    query = query.where(ranks.c.rank == _RANK[status])
            return query

        total = int(await self._session.scalar(narrowed(select(func.count(Domain.id)).select_from(Domain))) or 0)
        page = narrowed(select(Domain)).options(joinedload(Domain.mailboxes)).order_by(Domain.name)
        domains = list((await self._session.scalars(page.limit(limit).offset(offset))).unique().all())
        names = {r: s for s, r in _RANK.items()}
        statuses = dict.fromkeys((d.name for d in domains), "unknown")
        if domains:  # the statuses of this page only: an index lookup per domain
            found = await self._session.execute(
                select(CheckState.subject, rank).where(CheckState.subject.in_(statuses)).group_by(CheckState.subject)
            )
            for subject, value in found.all():
                statuses[subject] = names.get(int(value or 0), "unknown")
        return domains, total, statuses

    async def fleet_stamp(self) -> tuple[Any, ...]:
        """Counts and newest change times of providers, servers and fleet settings, in one query:
        equal stamps mean the rows a page's views are computed from have not changed."""
        parts = [
            select(func.count(), func.max(model.updated_at)).select_from(model)
            for model in (Provider, Server, DesiredSetting)
        ]
        rows = (await self._session.execute(union_all(*parts))).all()
        return tuple((int(n), str(when)) for n, when in rows)


class EventPages:
    """Paged reads of the audit log (the API's events list and stream)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def page(self, *, limit: int, offset: int, topic_prefix: str = "", source: str = "") -> Sequence[EventRecord]:
        """Newest first."""
        query = select(EventRecord).order_by(EventRecord.occurred_at.desc(), EventRecord.id.desc())
        if topic_prefix:
            query = query.where(EventRecord.topic.startswith(topic_prefix))
        if source:
            query = query.where(EventRecord.source == source)
        return (await self._session.scalars(query.limit(limit).offset(offset))).all()

    async def since(self, when: datetime, limit: int = 500) -> Sequence[EventRecord]:
        """Events that occurred at or after `when`, oldest first."""
        query = (
            select(EventRecord)
            .where(EventRecord.occurred_at >= when)
            .order_by(EventRecord.occurred_at, EventRecord.id)
            .limit(limit)
        )
        return (await self._session.scalars(query)).all()


def stale(last: datetime | None, now: datetime, seconds: float) -> bool:
    """True when `last` is unset or older than `seconds` before `now`."""
    if last is None:
        return True
    if last.tzinfo is None:  # SQLite hands back naive datetimes
        last = last.replace(tzinfo=UTC)
    return (now - last).total_seconds() >= seconds

"""Repositories of the REST API's tables (API keys, jobs, stored plans) and its paged reads of the desired state.

Kept apart from repositories.py so that the API's additions merge cleanly; the same rules hold:
bound to one session, never committing.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, Select, bindparam, case, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from email_infrastructure.core.database import READ_ONLY
from email_infrastructure.storage.models import (
    ApiKey,
    CheckState,
    DesiredSetting,
    Domain,
    EventRecord,
    JobRecord,
    Mailbox,
    Provider,
    Server,
    StoredPlanRecord,
)
from email_infrastructure.storage.repositories import DesiredRows
from email_infrastructure.storage.scoping import bound_workspace


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


class StoredPlans:
    """The `stored_plans` table: plans kept to be applied by id."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, plan_id: str) -> StoredPlanRecord | None:
        """One plan."""
        return await self._session.get(StoredPlanRecord, plan_id)

    def add(self, row: StoredPlanRecord) -> None:
        """Stage a plan."""
        self._session.add(row)


@dataclass
class PageRow:
    """A listed domain as stored: what its view is computed from, and its check status."""

    name: str
    managed_by: str
    updated_at: datetime
    #: None from `page` (a cached view needs no spec; `specs` reads those of the others)
    spec: dict[str, Any] | None
    #: (local part, first name, last name), by local part
    mailboxes: list[tuple[str, str, str]]
    status: str


def _rank() -> Any:
    """The worst of a group of check states as a number (`_RANK`; 0 when there is none)."""
    return func.max(case(*((CheckState.status == s, r) for s, r in _RANK.items()), else_=0))


#: the bound parameter of the workspace a Core statement on the session's connection reads (see `_page_statement`)
_WORKSPACE = "page_workspace"


def _in_workspace(model: Any, scoped: bool) -> list[Any]:
    """`model.workspace_id = :page_workspace` when `scoped`: what the session's ORM hook (storage/scoping.py)
    adds to ORM statements, written out for a Core statement executed on the connection, which it never sees."""
    return [model.workspace_id == bindparam(_WORKSPACE)] if scoped else []


def _narrowing(provider: str | None, server: str | None, status: str | None, scoped: bool = False) -> Any:
    """What filters a query of domains by workspace (`scoped`: the bound `page_workspace`), DNS provider,
    server name and status."""

    def narrowed(query: Select[Any]) -> Select[Any]:
        query = query.where(*_in_workspace(Domain, scoped))
        if provider is not None:
            query = query.where(Domain.dns_provider == provider)
        if server is not None:
            query = query.join(Server, Server.id == Domain.server_id).where(Server.name == server)
        if status is not None:
            # only a status filter needs the check states of every domain
            ranks = (
                select(CheckState.subject, _rank().label("rank"))
                .where(*_in_workspace(CheckState, scoped))
                .group_by(CheckState.subject)
                .subquery()
            )
            query = query.outerjoin(ranks, ranks.c.subject == Domain.name)
            if status == "unknown":
                query = query.where(func.coalesce(ranks.c.rank, 0) == 0)
            else:
                query = query.where(ranks.c.rank == _RANK[status])
        return query

    return narrowed


_FLEET_MODELS = (Provider, Server, DesiredSetting)


def _stamp_columns(scoped: bool = False) -> list[Any]:
    """Count and newest change time of each fleet table (of the bound workspace when `scoped`), as scalar
    subqueries."""
    columns: list[Any] = []
    for model in _FLEET_MODELS:
        where = _in_workspace(model, scoped)
        columns.append(select(func.count()).select_from(model).where(*where).scalar_subquery())
        columns.append(select(func.max(model.updated_at)).where(*where).scalar_subquery())
    return columns


def _stamp(values: Sequence[Any]) -> tuple[Any, ...]:
    return tuple((int(values[i]), str(values[i + 1])) for i in range(0, len(values), 2))


@functools.lru_cache(maxsize=64)
def _page_statement(
    provider: str | None, server: str | None, status: str | None, scoped: bool, inline_page: bool = True
) -> Select[Any]:
    """The page query of these filters, built once (limit and offset are bound per request): building it
    cost more than SQLite took to run it.

    One round trip: the total, each page domain's status (an index lookup) and the fleet's stamp as
    subqueries, the mailboxes joined. The total is a subquery rather than `count(*) over ()`: a window
    over every domain made SQLite read and sort all of them (30 ms at 10,000) instead of walking the
    name index. The specs are left out: a cached view needs none (`DomainPages.specs`). `inline_page`
    False binds limit and offset as parameters (SQLite's one-statement read, `page_outside_transaction`).

    It runs on the connection, below the session's workspace filter: with `scoped` every table it reads
    is filtered to the bound `page_workspace` here (a session of every workspace reads them all).
    """
    narrowed = _narrowing(provider, server, status, scoped)
    page = (
        narrowed(select(Domain.id, Domain.name, Domain.managed_by, Domain.updated_at).select_from(Domain))
        .order_by(Domain.name)
        # rendered into the SQL at execution (the built statement is still reused): PostgreSQL's generic plan
        # of a prepared `LIMIT $1` does not know the page is small, and sorted every domain for it
        .limit(bindparam("page_limit", type_=Integer, literal_execute=inline_page))
        .offset(bindparam("page_offset", type_=Integer, literal_execute=inline_page))
        .subquery("page")
    )
    worst = (
        select(_rank()).where(CheckState.subject == page.c.name, *_in_workspace(CheckState, scoped)).scalar_subquery()
    )
    return (
        select(
            page.c.name,
            page.c.managed_by,
            page.c.updated_at,
            narrowed(select(func.count(Domain.id)).select_from(Domain)).scalar_subquery(),
            worst,
            Mailbox.local_part,
            Mailbox.first_name,
            Mailbox.last_name,
            *_stamp_columns(scoped),
        )
        .select_from(page.outerjoin(Mailbox, Mailbox.domain_id == page.c.id))
        .order_by(page.c.name, Mailbox.local_part)
    )


def _page_of(result: Sequence[Sequence[Any]]) -> tuple[list[PageRow], int, tuple[Any, ...]]:
    """The page's rows (one per domain and mailbox, at least one) as `DomainPages.page` gives them."""
    names = {r: s for s, r in _RANK.items()}
    rows: dict[str, PageRow] = {}
    for name, owner, updated, _total, rank, local, first, last, *_fleet in result:
        row = rows.get(name)
        if row is None:
            row = rows[name] = PageRow(name, owner, updated, None, [], names.get(int(rank or 0), "unknown"))
        if local is not None:
            row.mailboxes.append((local, first, last))
    first_row = result[0]
    return list(rows.values()), int(first_row[3]), _stamp(first_row[8:])


@functools.lru_cache(maxsize=64)
def _sqlite_page(
    provider: str | None, server: str | None, status: str | None, dialect: Dialect
) -> tuple[Any, list[Any]]:
    """The page statement compiled for SQLite once, and each column's result processor (None: as stored)."""
    statement = _page_statement(provider, server, status, scoped=True, inline_page=False)
    processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in statement.selected_columns]
    return statement.compile(dialect=dialect), processors


async def page_outside_transaction(
    engine: AsyncEngine,
    *,
    workspace_id: int,
    limit: int,
    offset: int,
    provider: str | None = None,
    server: str | None = None,
    status: str | None = None,
) -> tuple[list[PageRow], int, tuple[Any, ...]] | None:
    """`DomainPages.page` on SQLite as one statement in one hop to aiosqlite's thread, outside a transaction.

    The unit of work's read costs eight hops to that thread (BEGIN's cursor, execute and close, the page's
    cursor, execute, fetch and close, ROLLBACK: each a queue put and a wake-up of the event loop) for what
    is one statement; this one two (execute and fetch together, the pool's rollback on return). It is
    filtered to `workspace_id` here: the session's workspace filter never sees it. Alone,
    SQLite runs the statement in a transaction of its own, which sees one state of the database (WAL).
    None on PostgreSQL, when no row matches (the total needs its own query) or on any SQLite error: the
    caller then reads in a unit of work, which reports errors as usual. Writes are untouched.
    """
    if engine.dialect.name != "sqlite":
        return None
    compiled, processors = _sqlite_page(provider, server, status, engine.dialect)
    bound = compiled.construct_params({"page_limit": limit, "page_offset": offset, _WORKSPACE: workspace_id})
    parameters = [bound[name] for name in compiled.positiontup or ()]
    try:
        async with engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            if driver is None:
                return None
            # aiosqlite executes and fetches in one call to its thread; the connection begins nothing (the
            # engine's "begin" hook runs only when SQLAlchemy executes), and the driver is in autocommit
            fetched = await driver.execute_fetchall(compiled.string, parameters)
    except sqlite3.Error:
        return None
    if not fetched:
        return None
    return _page_of(_processed(fetched, processors))


def _processed(fetched: Sequence[Sequence[Any]], processors: list[Any]) -> list[list[Any]]:
    """Rows as SQLAlchemy would give them; a value equal to the one above it is converted once: every row
    repeats the fleet's stamp, and each mailbox row its domain's (parsing SQLite's times took 16 % of the
    event loop's time)."""
    columns = [(i, process) for i, process in enumerate(processors) if process is not None]
    above: dict[int, tuple[Any, Any]] = {}
    result = []
    for row in fetched:
        values = list(row)
        for i, process in columns:
            raw = values[i]
            seen = above.get(i)
            if seen is not None and seen[0] == raw:
                values[i] = seen[1]
            else:
                values[i] = process(raw)
                above[i] = (raw, values[i])
        result.append(values)
    return result


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
    ) -> tuple[list[PageRow], int, tuple[Any, ...]]:
        """A page of domains by name (specs left out), the total matching and the fleet's stamp (see
        `fleet_stamp`): one round trip in the common case (`_page_statement`)."""
        workspace = bound_workspace(self._session)
        query = _page_statement(provider, server, status, workspace is not None)
        # Core rows on the session's connection (its read-only transaction): no ORM compile state per request
        connection = await self._session.connection()
        params = {"page_limit": limit, "page_offset": offset}
        if workspace is not None:
            params[_WORKSPACE] = workspace
        result = (await connection.execute(query, params)).all()
        if not result:  # past the end, or nothing matches: the total needs a query of its own
            narrowed = _narrowing(provider, server, status)
            total = await self._session.scalar(narrowed(select(func.count(Domain.id)).select_from(Domain)))
            return [], int(total or 0), ()
        return _page_of(result)

    async def specs(self, names: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored specs of these domains (the listed ones whose views are not cached), by key."""
        query = select(Domain.name, Domain.spec).where(Domain.name.in_(list(names)))
        return {row[0]: row[1] for row in (await self._session.execute(query)).all()}

    async def one(self, name: str) -> tuple[PageRow, tuple[Any, ...]] | None:
        """One domain as `page` gives it (row, mailboxes, status) and the fleet's stamp: one round trip, by key."""
        worst = select(_rank()).where(CheckState.subject == Domain.name).scalar_subquery()
        query = (
            select(
                Domain.name,
                Domain.managed_by,
                Domain.updated_at,
                Domain.spec,
                worst,
                Mailbox.local_part,
                Mailbox.first_name,
                Mailbox.last_name,
                *_stamp_columns(),
            )
            .select_from(Domain)
            .outerjoin(Mailbox, Mailbox.domain_id == Domain.id)
            .where(Domain.name == name)
            .order_by(Mailbox.local_part)
        )
        result = (await self._session.execute(query)).all()
        if not result:
            return None
        first = result[0]
        names = {r: s for s, r in _RANK.items()}
        row = PageRow(first[0], first[1], first[2], first[3], [], names.get(int(first[4] or 0), "unknown"))
        row.mailboxes = [(r[5], r[6], r[7]) for r in result if r[5] is not None]
        return row, _stamp(first[8:])

    async def status(self, name: str) -> str:
        """One domain's status as `page` gives it: the worst of its check states, `unknown` without any."""
        rank = await self._session.scalar(select(_rank()).where(CheckState.subject == name))
        return {r: s for s, r in _RANK.items()}.get(int(rank or 0), "unknown")

    async def fleet_stamp(self) -> tuple[Any, ...]:
        """Counts and newest change times of providers, servers and fleet settings, in one query:
        equal stamps mean the rows a page's views are computed from have not changed."""
        return _stamp((await self._session.execute(select(*_stamp_columns()))).one())


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

"""The fleet at a glance: every domain with the state of each check column (the dashboard's overview).

Filters, sorting, paging and counts are SQL over `domain_status` (one row per domain, kept equal to the
check states by storage/overview_rows.py) joined to domains and servers: a page of 100,000 domains
reads 50 rows and a few counts, never the fleet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from email_infrastructure.core.errors import UserError
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import CheckState, DomainStatus, Provider, Server
from email_infrastructure.storage.overview_rows import COLUMN_CHECKS, RANK, STATUS_OF

#: the overview's columns: (label, checks whose worst state fills the cell)
COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DNS drift", COLUMN_CHECKS["drift"]),
    ("SPF", COLUMN_CHECKS["spf"]),
    ("DKIM", COLUMN_CHECKS["dkim"]),
    ("DMARC", COLUMN_CHECKS["dmarc"]),
    ("Blocklists", COLUMN_CHECKS["dnsbl"]),
    ("TLS", COLUMN_CHECKS["tls"]),
    ("Mailboxes", COLUMN_CHECKS["mailbox"]),
    ("Registration", COLUMN_CHECKS["registration"]),
    ("Delegation", COLUMN_CHECKS["delegation"]),
    ("Sequencers", COLUMN_CHECKS["sequencer"]),
)
#: column label → its key (a `domain_status` column, and the `check` / `sort` parameter)
COLUMN_KEYS: dict[str, str] = dict(zip((label for label, _ in COLUMNS), COLUMN_CHECKS, strict=True))
STATUSES = ("error", "unknown", "warning", "ok", "none")
#: what a page sorts by: the name, the server's name, the DNS provider, each column, the status, the check time
SORTS = ("name", "server", "provider", *COLUMN_CHECKS, "status", "checked")
_SORT_COLUMNS: dict[str, Any] = {
    "name": DomainStatus.name,
    "server": select(Server.name).where(Server.id == DomainStatus.server_id).scalar_subquery(),
    "provider": DomainStatus.dns_provider,
    **{key: getattr(DomainStatus, key) for key in COLUMN_CHECKS},
    "status": DomainStatus.status,
    "checked": DomainStatus.checked_at,
}


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass(frozen=True)
class OverviewQuery:
    """Which domains (every filter optional) and in which order; default: worst first, then by name."""

    search: str = ""
    status: str | None = None
    server: str | None = None
    provider: str | None = None
    #: a column key: only domains whose cell of it is at `check_status`
    check: str | None = None
    check_status: str | None = None
    sort: str = "status"
    descending: bool = True

    def __post_init__(self) -> None:
        for value in (self.status, self.check_status):
            if value is not None and value not in RANK:
                raise UserError(f"unknown status {value!r} (one of {', '.join(STATUSES)})")
        if self.check is not None and self.check not in COLUMN_CHECKS:
            raise UserError(f"unknown check column {self.check!r} (one of {', '.join(COLUMN_CHECKS)})")
        if (self.check is None) != (self.check_status is None):
            raise UserError("a check filter needs both the check column and its status")
        if self.sort not in SORTS:
            raise UserError(f"unknown sort {self.sort!r} (one of {', '.join(SORTS)})")

    def where(self) -> list[Any]:
        """The conditions on the domains' rows (which copy each domain's name, server and DNS provider)."""
        found: list[Any] = []
        needle = self.search.strip().lower()
        if needle:
            found.append(DomainStatus.name.contains(needle, autoescape=True))
        if self.status is not None:
            found.append(DomainStatus.status == RANK[self.status])
        if self.server is not None:
            found.append(DomainStatus.server_id.in_(select(Server.id).where(Server.name == self.server)))
        if self.provider is not None:
            found.append(DomainStatus.dns_provider == self.provider)
        if self.check is not None and self.check_status is not None:
            found.append(getattr(DomainStatus, self.check) == RANK[self.check_status])
        return found

    def order(self) -> list[Any]:
        """ORDER BY: the chosen key, then the name (ascending unless the name is the key)."""
        key = _SORT_COLUMNS[self.sort]
        first = key.desc() if self.descending else key.asc()
        return [first] if self.sort == "name" else [first, DomainStatus.name.asc()]


def _base(*columns: Any) -> Any:
    """domain_status alone (the session's hook filters it to the workspace): a server's name and address
    are looked up in the workspace's few servers afterwards."""
    return select(*columns).select_from(DomainStatus)


_ROW = (
    DomainStatus.name,
    DomainStatus.server_id,
    DomainStatus.dns_provider,
    *(getattr(DomainStatus, key) for key in COLUMN_CHECKS),
    DomainStatus.status,
    DomainStatus.checked_at,
)
#: server id → (name, IPv4)
Servers = dict[int, tuple[str, str | None]]


async def _servers(session: Any) -> Servers:
    rows = (await session.execute(select(Server.id, Server.name, Server.ipv4).order_by(Server.name))).all()
    return {server_id: (name, ip) for server_id, name, ip in rows}


@dataclass
class OverviewRow:
    """One domain: its cells by column label, its worst state and when it was last checked."""

    name: str
    ip: str | None
    cells: dict[str, str]
    status: str
    checked_at: datetime | None
    server: str | None = None
    provider: str | None = None


def _row(values: Any, servers: Servers) -> OverviewRow:
    name, server_id, provider, *ranks, status, checked = values
    server, ip = servers.get(server_id, (None, None)) if server_id is not None else (None, None)
    cells = {label: STATUS_OF.get(int(r), "unknown") for (label, _), r in zip(COLUMNS, ranks, strict=True)}
    when = _aware(checked) if checked is not None else None
    return OverviewRow(name, ip, cells, STATUS_OF.get(int(status), "unknown"), when, server, provider)


@dataclass
class Overview:
    """A page of rows, how many match, the totals over the whole workspace and what the filters offer."""

    rows: list[OverviewRow]
    matching: int
    totals: dict[str, int] = field(default_factory=dict)
    domains: int = 0
    last_check: datetime | None = None
    servers: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)


async def overview(
    app: App,
    query: OverviewQuery | None = None,
    *,
    search: str = "",
    status: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Overview:
    """One page of the domains `query` selects (or those whose name contains `search`, at `status`)."""
    query = query or OverviewQuery(search=search, status=status)
    if limit < 1 or offset < 0:
        raise UserError("limit must be at least 1 and offset at least 0")
    if not app.has_state():
        return Overview([], 0, dict.fromkeys(STATUSES, 0))
    where = query.where()
    async with app.uow() as uow:
        session = uow.session
        statement = _base(*_ROW).where(*where).order_by(*query.order()).limit(limit).offset(offset)
        page = (await session.execute(statement)).all()
        count = _base(func.count()).where(*where)
        matching = int(await session.scalar(count) or 0) if where else None
        by_rank = (await session.execute(select(DomainStatus.status, func.count()).group_by(DomainStatus.status))).all()
        last = await session.scalar(select(func.max(DomainStatus.checked_at)))
        servers = await _servers(session)
        dns = select(Provider.name).where(Provider.kind == "dns").order_by(Provider.name)
        providers = list((await session.scalars(dns)).all())
    totals = dict.fromkeys(STATUSES, 0)
    for rank, n in by_rank:
        totals[STATUS_OF.get(int(rank), "unknown")] += int(n)
    domains = sum(totals.values())
    rows = [_row(r, servers) for r in page]
    names = [name for name, _ in servers.values()]
    return Overview(
        rows,
        domains if matching is None else matching,
        totals,
        domains,
        _aware(last) if last is not None else None,
        names,
        providers,
    )


async def matching_names(app: App, query: OverviewQuery, limit: int) -> tuple[list[str], int]:
    """The names of the first `limit` domains `query` selects (in its order) and how many it selects."""
    if not app.has_state():
        return [], 0
    where = query.where()
    async with app.uow() as uow:
        session = uow.session
        chosen = _base(DomainStatus.name).where(*where).order_by(*query.order()).limit(limit)
        names = list((await session.scalars(chosen)).all())
        total = int(await session.scalar(_base(func.count()).where(*where)) or 0)
    return names, total


async def overview_rows(app: App, query: OverviewQuery, chunk: int = 1000) -> AsyncIterator[OverviewRow]:
    """Every domain `query` selects, in its order, read as a stream (the CSV export)."""
    if not app.has_state():
        return
    async with app.uow() as uow:
        servers = await _servers(uow.session)
        statement = _base(*_ROW).where(*query.where()).order_by(*query.order())
        result = await uow.session.stream(statement.execution_options(yield_per=chunk))
        async for values in result:
            yield _row(values, servers)


@dataclass
class CheckView:
    """One (subject, check): its current state, its latest findings and its recent statuses, oldest first."""

    subject: str
    check: str
    status: str
    summary: str
    since: datetime
    checked_at: datetime
    findings: list[dict[str, Any]]
    recent: list[str]


async def domain_checks(app: App, subjects: list[str], history: int = 30) -> list[CheckView]:
    """The checks of a domain's subjects (the domain, its server's IP, its mailboxes), by subject and check."""
    if not app.has_state() or not subjects:
        return []
    out: list[CheckView] = []
    async with app.uow() as uow:
        query = (
            select(CheckState).where(CheckState.subject.in_(subjects)).order_by(CheckState.subject, CheckState.check)
        )
        for state in (await uow.session.scalars(query)).all():
            rows = await uow.checks.history(state.subject, state.check, history)
            latest = rows[0].findings if rows else {}
            out.append(
                CheckView(
                    state.subject,
                    state.check,
                    state.status,
                    state.summary,
                    _aware(state.since),
                    _aware(state.checked_at),
                    [f for f in latest.get("findings", []) if isinstance(f, dict)],
                    [r.status for r in reversed(rows)],
                )
            )
    order = {s: i for i, s in enumerate(subjects)}
    return sorted(out, key=lambda v: (order.get(v.subject, len(order)), v.check))


__all__ = [
    "COLUMNS",
    "COLUMN_KEYS",
    "SORTS",
    "STATUSES",
    "CheckView",
    "Overview",
    "OverviewQuery",
    "OverviewRow",
    "domain_checks",
    "matching_names",
    "overview",
    "overview_rows",
]

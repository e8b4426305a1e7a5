"""The fleet at a glance: every domain with the stored state of each check column (the dashboard's overview).

Reads only names, addresses and current check states (a few narrow queries, no snapshot), then
filters and pages in memory: 1,000 domains are a few thousand small rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from email_infrastructure.core.errors import UserError
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import CheckState, Domain, Mailbox, Server

#: the overview's columns: (label, checks whose worst state fills the cell)
COLUMNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("DNS drift", ("drift",)),
    ("SPF", ("spf",)),
    ("DKIM", ("dkim",)),
    ("DMARC", ("dmarc",)),
    ("Blocklists", ("dnsbl",)),
    ("TLS", ("tls",)),
    ("Mailboxes", ("mailbox",)),
)
#: a cell never checked is `none`; a row's status is its worst cell
_RANK = {"none": 0, "ok": 1, "warning": 2, "unknown": 3, "error": 4}
STATUSES = ("error", "unknown", "warning", "ok", "none")


def _worst(statuses: list[str]) -> str:
    return max(statuses, key=lambda s: _RANK.get(s, 3), default="none")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@dataclass
class OverviewRow:
    """One domain: its cells by column label, its worst state and when it was last checked."""

    name: str
    ip: str | None
    cells: dict[str, str]
    status: str
    checked_at: datetime | None


@dataclass
class Overview:
    """A page of rows, how many match, and the totals over the whole fleet."""

    rows: list[OverviewRow]
    matching: int
    totals: dict[str, int] = field(default_factory=dict)
    domains: int = 0
    last_check: datetime | None = None


async def overview(
    app: App, *, search: str = "", status: str | None = None, limit: int = 50, offset: int = 0
) -> Overview:
    """Domains by name whose name contains `search` and whose worst state is `status`; one page of them."""
    if status is not None and status not in _RANK:
        raise UserError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    if limit < 1 or offset < 0:
        raise UserError("limit must be at least 1 and offset at least 0")
    if not app.has_state():
        return Overview([], 0, dict.fromkeys(STATUSES, 0))
    async with app.uow() as uow:
        s = uow.session
        domains = (
            await s.execute(
                select(Domain.id, Domain.name, Server.ipv4).outerjoin(Server, Server.id == Domain.server_id)
            )
        ).all()
        boxes = (await s.execute(select(Mailbox.domain_id, Mailbox.local_part))).all()
        states = (
            await s.execute(select(CheckState.subject, CheckState.check, CheckState.status, CheckState.checked_at))
        ).all()
    by_subject: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for subject, check, state, checked_at in states:
        by_subject[subject].append((check, state, _aware(checked_at)))
    mailboxes: dict[int, list[str]] = defaultdict(list)
    for domain_id, local in boxes:
        mailboxes[domain_id].append(local)
    needle = search.strip().lower()
    rows: list[OverviewRow] = []
    totals = dict.fromkeys(STATUSES, 0)
    last: datetime | None = None
    for domain_id, name, ip in sorted(domains, key=lambda d: d[1]):
        subjects = [name, *([ip] if ip else []), *(f"{local}@{name}" for local in mailboxes[domain_id])]
        found: dict[str, list[str]] = defaultdict(list)
        checked: datetime | None = None
        for subject in subjects:
            for check, state, when in by_subject.get(subject, ()):
                found[check].append(state)
                checked = when if checked is None or when > checked else checked
        cells = {label: _worst([st for c in checks for st in found.get(c, [])]) for label, checks in COLUMNS}
        row = OverviewRow(name, ip, cells, _worst(list(cells.values())), checked)
        totals[row.status] += 1
        if checked is not None and (last is None or checked > last):
            last = checked
        if needle in name and (status is None or row.status == status):
            rows.append(row)
    return Overview(rows[offset : offset + limit], len(rows), totals, len(domains), last)


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


__all__ = ["COLUMNS", "STATUSES", "CheckView", "Overview", "OverviewRow", "domain_checks", "overview"]

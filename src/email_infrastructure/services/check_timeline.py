"""When each check of some subjects changed state: the bands of a domain page's history chart.

Only the change points are read (a window function over the stored results, in SQL), so a check
that ran every five minutes for a month is a handful of rows, not thousands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select

from email_infrastructure.services.app import App
from email_infrastructure.storage.models import CheckResultRecord

#: how far back the chart looks
DAYS = 30


@dataclass(frozen=True)
class Band:
    """One state of a check from `start` until `end` (the next change, or now)."""

    status: str
    start: datetime
    end: datetime


@dataclass
class Lane:
    """One (subject, check): its state bands, oldest first."""

    subject: str
    check: str
    bands: list[Band] = field(default_factory=list)


@dataclass
class Timeline:
    """Lanes between `start` and `end` (the first stored result in the window, and now)."""

    start: datetime
    end: datetime
    lanes: list[Lane] = field(default_factory=list)


async def check_timeline(app: App, subjects: list[str], *, days: int = DAYS, now: datetime | None = None) -> Timeline:
    """The state bands of every check of `subjects` over the last `days` days, by subject and check."""
    end = now or datetime.now(UTC)
    since = end - timedelta(days=days)
    if not app.has_state() or not subjects:
        return Timeline(since, end)
    r = CheckResultRecord
    previous = func.lag(r.status).over(partition_by=(r.subject, r.check), order_by=(r.checked_at, r.id))
    inner = (
        select(r.subject, r.check, r.status, r.checked_at, r.id, previous.label("previous"))
        .where(r.subject.in_(subjects), r.checked_at >= since)
        .subquery()
    )
    query = (
        select(inner.c.subject, inner.c.check, inner.c.status, inner.c.checked_at)
        .where(or_(inner.c.previous.is_(None), inner.c.previous != inner.c.status))
        .order_by(inner.c.subject, inner.c.check, inner.c.checked_at, inner.c.id)
    )
    async with app.uow() as uow:
        rows = (await uow.session.execute(query)).all()
    lanes: dict[tuple[str, str], list[tuple[str, datetime]]] = {}
    for subject, check, status, checked_at in rows:
        lanes.setdefault((subject, check), []).append((status, min(checked_at, end)))
    timeline = Timeline(min((p[0][1] for p in lanes.values()), default=since), end)
    for (subject, check), points in lanes.items():
        ends = [at for _, at in points[1:]] + [end]
        bands = [Band(status, at, until) for (status, at), until in zip(points, ends, strict=True)]
        timeline.lanes.append(Lane(subject, check, bands))
    return timeline


__all__ = ["DAYS", "Band", "Lane", "Timeline", "check_timeline"]

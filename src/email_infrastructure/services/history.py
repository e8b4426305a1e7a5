"""Read-only views of what happened: the audit log and the check history (the API's events and results)."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from email_infrastructure.services.app import App
from email_infrastructure.services.scope import Scope, acting_in
from email_infrastructure.storage.api_repositories import EventPages, read_only
from email_infrastructure.storage.models import CheckResultRecord, CheckState, EventRecord


def event_json(row: EventRecord) -> dict[str, Any]:
    """One audit-log entry as JSON."""
    return {
        "id": row.id,
        "topic": row.topic,
        "source": row.source,
        "correlation_id": row.correlation_id,
        "payload": row.payload,
        # SQLite hands datetimes back without their zone; they were stored in UTC
        "occurred_at": (row.occurred_at if row.occurred_at.tzinfo else row.occurred_at.replace(tzinfo=UTC)).isoformat(),
    }


async def events_page(
    app: App, *, limit: int = 50, offset: int = 0, topic_prefix: str = "", source: str = ""
) -> list[dict[str, Any]]:
    """A page of the audit log, newest first."""
    if not app.has_state():
        return []
    async with app.uow() as uow:
        rows = await EventPages(uow.session).page(limit=limit, offset=offset, topic_prefix=topic_prefix, source=source)
        return [event_json(r) for r in rows]


async def events_since(app: App, when: datetime) -> list[dict[str, Any]]:
    """Audit-log entries at or after `when`, oldest first (what a live stream polls)."""
    if not app.has_state():
        return []
    async with app.uow() as uow:
        return [event_json(r) for r in await EventPages(uow.session).since(when)]


#: how often a live stream looks for new events, and how far back it looks again (commits land late)
POLL_EVERY = 1.0
OVERLAP = timedelta(seconds=10)
#: events that concern every domain and mailbox (an apply changes their records without naming them)
JOB_TOPICS = ("api.job.",)


def concerns(event: dict[str, Any], about: str) -> bool:
    """Whether an event can change what is shown of `about` (a domain or a mailbox address): its own checks
    and desired state, its mailboxes' checks, and any job."""
    payload = event.get("payload") or {}
    if str(event.get("topic", "")).startswith(JOB_TOPICS):
        return True
    named = {str(payload.get(k, "")).lower() for k in ("subject", "domain", "address")}
    return about in named or any(n.endswith("@" + about) for n in named)


async def follow_events(
    app: App,
    scope: Scope,
    since: datetime,
    *,
    gone: Callable[[], Awaitable[bool]],
    for_seconds: float | None = None,
    about: str = "",
) -> AsyncGenerator[list[dict[str, Any]]]:
    """New audit-log entries of `scope` from `since` on, a batch per look, until `gone()` or `for_seconds` ends it;
    with `about`, only those that `concerns` it (an empty look sends no batch).

    Every face's live stream (the API's `/events/stream`, the dashboard's page updates) follows the log
    through this one loop. A stream outlives the request that opened it, so each look acts in `scope`.
    """
    seen: deque[str] = deque(maxlen=5000)
    start, newest = since, since
    until = None if for_seconds is None else time.monotonic() + for_seconds
    while True:
        with acting_in(scope):
            found = await events_since(app, newest - OVERLAP)
        batch: list[dict[str, Any]] = []
        for event in found:
            occurred = datetime.fromisoformat(event["occurred_at"])
            # the look-back catches late commits; what happened before the asked-for start is not sent
            if event["id"] in seen or occurred < start:
                continue
            seen.append(event["id"])
            newest = max(newest, occurred)
            if not about or concerns(event, about):
                batch.append(event)
        if batch:
            yield batch
        if await gone() or (until is not None and time.monotonic() >= until):
            return
        await asyncio.sleep(POLL_EVERY)


async def check_history(
    app: App, subject: str, check: str, limit: int = 50, offset: int = 0
) -> tuple[Sequence[CheckResultRecord], int]:
    """A page of the results of one (subject, check), newest first, and how many there are."""
    if not app.has_state():
        return [], 0
    async with app.uow() as uow:
        await read_only(uow.session)
        return await uow.checks.history(subject, check, limit, offset), await uow.checks.history_count(subject, check)


async def check_states_page(
    app: App, *, subject: str | None = None, check: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[Sequence[CheckState], int]:
    """A page of the current check states by subject and check (of one subject or check), and the total."""
    if not app.has_state():
        return [], 0
    async with app.uow() as uow:
        await read_only(uow.session)
        return await uow.checks.states_page(subject=subject, check=check, limit=limit, offset=offset)

"""`/api/v1/events`: the audit log, paginated, and a live server-sent-events stream of it."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, EventList, EventOut, ok
from email_infrastructure.services.history import events_page, events_since
from email_infrastructure.services.scope import Scope, acting_in, chosen

router = APIRouter(prefix="/events", tags=["events"])
#: how often the stream looks for new events, and how far back it looks again (commits land late)
POLL_EVERY = 1.0
OVERLAP = timedelta(seconds=10)


@router.get("", response_model=Envelope[EventList])
async def list_events(
    app: AppDep,
    key: ReadKey,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    topic: Annotated[str, Query(max_length=128, description="a topic prefix, e.g. `desired.`")] = "",
    source: Annotated[str, Query(max_length=255, description="e.g. `api:<key name>`")] = "",
) -> Envelope[EventList]:
    """The audit log, newest first."""
    rows = await events_page(app, limit=limit, offset=offset, topic_prefix=topic, source=source)
    return ok(EventList(items=[EventOut.model_validate(r) for r in rows], limit=limit, offset=offset))


async def _stream(
    request: Request, app: AppDep, scope: Scope, since: datetime, limit: int | None
) -> AsyncIterator[str]:
    seen: deque[str] = deque(maxlen=5000)
    sent, start = 0, since
    yield ": connected\n\n"
    while limit is None or sent < limit:
        # the body is streamed after the handler returned: each poll acts in the scope captured then
        with acting_in(scope):
            found = await events_since(app, since - OVERLAP)
        for event in found:
            occurred = datetime.fromisoformat(event["occurred_at"])
            # the look-back catches late commits; what happened before the asked-for start is not sent
            if event["id"] in seen or occurred < start:
                continue
            seen.append(event["id"])
            since = max(since, occurred)
            yield f"id: {event['id']}\nevent: {event['topic']}\ndata: {json.dumps(event)}\n\n"
            sent += 1
            if limit is not None and sent >= limit:
                return
        if await request.is_disconnected():
            return
        await asyncio.sleep(POLL_EVERY)


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Server-sent events, one per audit-log entry"}
    },
)
async def stream_events(
    request: Request,
    app: AppDep,
    key: ReadKey,
    since: Annotated[datetime | None, Query(description="start from this time (default: now)")] = None,
    limit: Annotated[int | None, Query(ge=1, le=10_000, description="end after this many events")] = None,
    last_event_id: Annotated[str | None, Header(max_length=64)] = None,
) -> StreamingResponse:
    """New audit-log entries of the workspace as they are written (`text/event-stream`)."""
    start = since or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    scope = chosen()
    if scope is None:  # the Guard enters one for every request: a stream never falls back to the settings'
        raise RuntimeError("the event stream was opened without a workspace")
    return StreamingResponse(
        _stream(request, app, scope, start, limit),
        media_type="text/event-stream",
        headers={
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
            **getattr(request.state, "rate_limit_headers", {}),
        },
    )

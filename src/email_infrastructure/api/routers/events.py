"""`/api/v1/events`: the audit log, paginated, and a live server-sent-events stream of it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, EventList, EventOut, ok
from email_infrastructure.services.history import events_page, follow_events
from email_infrastructure.services.scope import Scope, chosen

router = APIRouter(prefix="/events", tags=["events"])


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
    yield ": connected\n\n"
    sent = 0
    async with aclosing(follow_events(app, scope, since, gone=request.is_disconnected)) as batches:
        async for batch in batches:
            for event in batch:
                yield f"id: {event['id']}\nevent: {event['topic']}\ndata: {json.dumps(event)}\n\n"
                sent += 1
                if limit is not None and sent >= limit:
                    return


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

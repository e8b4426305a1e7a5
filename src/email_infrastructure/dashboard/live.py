"""Live pages: each open page follows its workspace's audit log (`/live`, server-sent events) and
re-reads itself when something happened: a check turning red, a job finishing, a domain added.

The stream says only that, and which topics: the page asks for its own new content through the
same route as a reload (htmx's SSE extension, vendored), so nothing renders twice and nothing a
page would not show travels on the stream.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response, StreamingResponse

from email_infrastructure.dashboard.render import PageRoute
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.app import App
from email_infrastructure.services.history import follow_events
from email_infrastructure.services.scope import Scope, chosen

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: a stream ends after this long and the browser opens the next one (nothing lingers after a tab closes)
STREAM_SECONDS = 300.0
#: how long the browser waits before it opens the next stream
RETRY_MS = 2000
#: the furthest back a (re)opened stream looks: a page older than this re-reads itself once
LOOK_BACK = timedelta(seconds=60)


async def _changes(request: Request, app: App, scope: Scope, since: datetime, about: str) -> AsyncIterator[str]:
    yield f"retry: {RETRY_MS}\n\n"
    # a domain's page re-reads its DNS provider: only what concerns it (`about`) may cost that read
    follow = follow_events(app, scope, since, gone=request.is_disconnected, for_seconds=STREAM_SECONDS, about=about)
    async with aclosing(follow) as batches:
        async for batch in batches:
            # one message per look however many events it found: the page re-reads itself once
            topics = sorted({str(event["topic"]) for event in batch})
            yield f"event: changed\ndata: {json.dumps(topics)}\n\n"


@router.get("/live")
async def live(
    request: Request,
    who: Member,
    since: Annotated[datetime | None, Query(description="when the page was rendered")] = None,
    about: Annotated[str, Query(max_length=320, description="only events about this domain or mailbox")] = "",
) -> Response:
    """The page's workspace's events since the page was rendered, as `changed` messages (`text/event-stream`)."""
    now = datetime.now(UTC)
    start = now if since is None else (since if since.tzinfo else since.replace(tzinfo=UTC))
    start = min(max(start, now - LOOK_BACK), now)
    scope = chosen()
    assert scope is not None  # Member entered the page's workspace
    app: App = request.app.state.app
    return StreamingResponse(
        _changes(request, app, scope, start, about.strip().lower().rstrip(".")),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )

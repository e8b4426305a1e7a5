"""The lookup box: audit any domain or IP now (`/lookup?q=…[&selector=…]`), as `email-infra audit` does.

Read scope is enough: nothing is written. Each lookup sends DNS queries from the server, so it
counts against the key's create limit (`api_rate_limit_write`, the API's `POST /audit` budget);
a visitor over it gets a 429 page. Bad input is refused before any query is sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from email_infrastructure.api.errors import RateLimitedError
from email_infrastructure.api.ratelimit import RateLimiter
from email_infrastructure.core.errors import UserError
from email_infrastructure.dashboard.render import PageRoute, render
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)
#: one counter per key for `/lookup` in every workspace
ROUTE = "GET /lookup"


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/lookup")
async def lookup_page(
    request: Request, who: Member, q: Annotated[str, Query()] = "", selector: Annotated[str, Query()] = ""
) -> Response:
    """The form; with `q`, the audit of that domain or IP: each check's state, findings, evidence and fixes."""
    from email_infrastructure.services.lookup import lookup, parse

    assert who.key is not None
    require(who.key, "read")
    if not q.strip():
        return render(request, "lookup.html", q="", selector=selector, result=None, error=None)
    try:
        subject = parse(q, selector)
    except UserError as exc:  # refused before anything is counted or sent; the form stays to correct it
        return render(request, "lookup.html", status_code=400, q=q, selector=selector, result=None, error=str(exc))
    limiter: RateLimiter = request.app.state.limiter
    try:
        await limiter.hit("write", who.key.name, ROUTE)
    except RateLimitedError as exc:
        page = render(request, "error.html", status_code=429, status=429, message=str(exc))
        page.headers.update(exc.headers)
        return page
    result = await lookup(_app(request), subject)
    return render(request, "lookup.html", q=q.strip(), selector=selector.strip(), result=result, error=None)

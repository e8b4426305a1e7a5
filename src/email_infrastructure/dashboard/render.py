"""Rendering pages: the Jinja2 environment (autoescape on for every template), the page route class
that turns errors into HTML pages and sets the session cookie, and the security headers."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader
from starlette.responses import HTMLResponse, RedirectResponse, Response

from email_infrastructure.core.errors import EmailInfraError, NotFoundError, UserError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.dashboard.session import CsrfError, LoginRequired, Visitor, sessions_of
from email_infrastructure.services.apikeys import AuthenticationError, PermissionDeniedError

if TYPE_CHECKING:
    from email_infrastructure.dashboard.workspaces import Place

HERE = Path(__file__).parent
# autoescape=True for every template name and string: nothing a record or a finding says is markup
env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
#: no inline script or style can run even if something slipped through; htmx and the stylesheet are ours
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def when(value: datetime | str | None) -> str:
    """A time as people read it (UTC, to the second)."""
    if value is None:
        return "never"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def shown(value: Any) -> str:
    """A planned value as text: a record's values, `(known after apply)`, or compact JSON."""
    if value is None:
        return ""
    if isinstance(value, dict):
        if value.get("known_after_apply") is True:
            return "(known after apply)"
        if isinstance(value.get("values"), list):
            return " | ".join(shown(v) for v in value["values"])
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def label(status: str) -> str:
    """A status as people read it: `none` is a check that never ran."""
    return "not checked" if status == "none" else status


env.filters["when"] = when
env.filters["label"] = label
env.filters["shown"] = shown


#: the pages that follow the workspace's events (dashboard/live.py) and re-read themselves when one comes
LIVE = frozenset(
    {
        "overview.html",
        "domain.html",
        "servers.html",
        "server.html",
        "mailboxes.html",
        "mailbox.html",
        "jobs.html",
        "events.html",
        "dmarc.html",
    }
)


def fragment(request: Request, target: str) -> bool:
    """Whether htmx asks for the element `#target` alone (a filter's swap) rather than the page."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Target") == target


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page: the template with the visitor, the request and the page's workspace in its context.

    `base` starts every link of a page in a named workspace (`/workspaces/acme`), so that a link or
    form leads to the workspace the page shows; `section` is the page's path without it.
    """
    visitor: Visitor | None = getattr(request.state, "visitor", None)
    place: Place | None = getattr(request.state, "place", None)
    base = place.base if place is not None else ""
    section = request.url.path[len(base) :] or "/"
    live = template in LIVE and visitor is not None and visitor.key is not None
    html = env.get_template(template).render(
        request=request,
        visitor=visitor,
        place=place,
        base=base,
        section=section,
        live=live,
        rendered_at=datetime.now(UTC).isoformat(timespec="seconds"),
        **context,
    )
    return HTMLResponse(html, status_code=status_code)


def link(request: Request, path: str) -> str:
    """`path` (`/plans/…`) in the workspace the request acts in: where a form's redirect leads."""
    place: Place | None = getattr(request.state, "place", None)
    return (place.base if place is not None else "") + path


def redirect(url: str) -> RedirectResponse:
    """See other: after a POST, the browser GETs `url`."""
    return RedirectResponse(url, status_code=303)


def _error(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status_code, status=status_code, message=redact_text(message))


class PageRoute(APIRoute):
    """A dashboard route: errors become HTML pages (login redirects), the session cookie is set."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler wrapped in the error pages, the session cookie and the headers."""
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            response: Response
            try:
                response = await handler(request)
            except LoginRequired:
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                response = redirect(f"/login?next={quote(target, safe='')}")
            except (CsrfError, PermissionDeniedError) as exc:
                response = _error(request, 403, str(exc))
            except AuthenticationError as exc:
                response = _error(request, 401, str(exc))
            except NotFoundError as exc:
                response = _error(request, 404, str(exc))
            except UserError as exc:
                response = _error(request, 400, str(exc))
            except RequestValidationError as exc:
                problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
                response = _error(request, 422, problems)
            except EmailInfraError as exc:  # a provider or storage failure: say it, keep the dashboard usable
                response = _error(request, 502, str(exc))
            new = getattr(request.state, "new_session", None)
            if new is not None:
                await sessions_of(request).write(
                    response, new, secure=request.app.state.app.settings.env != "development"
                )
            response.headers.setdefault("Content-Security-Policy", CSP)
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
            response.headers.setdefault("Referrer-Policy", "same-origin")
            response.headers.setdefault("Cache-Control", "no-store")
            return response

        return run


__all__ = ["CSP", "LIVE", "PageRoute", "env", "fragment", "link", "redirect", "render", "when"]

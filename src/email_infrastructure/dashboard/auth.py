"""Log in with an API key (verified by the same ApiKeyService as the API) and log out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, redirect, render
from email_infrastructure.dashboard.session import Visitor, check_csrf, fresh, visitor
from email_infrastructure.services.apikeys import ApiKeyService, AuthenticationError

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]


def _safe_next(target: str) -> str:
    """Only a path of this site: never another host (an open redirect; browsers drop tabs and newlines)."""
    local = target.startswith("/") and not target.startswith("//") and "\\" not in target
    return target if local and all(" " < c < "\x7f" for c in target) else "/"


@router.get("/login")
async def login_page(
    request: Request, who: Annotated[Visitor, Depends(visitor)], next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    """The login form (a logged-in visitor goes on to the page asked for)."""
    if who.key is not None:
        return redirect(_safe_next(next))
    return render(request, "login.html", next=_safe_next(next), error=None)


@router.post("/login")
async def login(request: Request, form: Form) -> Response:
    """Verify the key; on success a new session (new CSRF token) names it."""
    keys: ApiKeyService = request.app.state.keys
    target = _safe_next(form.get("next", "/"))
    presented = form.get("key", "").strip()
    try:
        info = await keys.verify(presented)
    except AuthenticationError as exc:
        if presented:  # the API's count of rejected keys per address: the same throttle here
            limited = await request.app.state.limiter.auth_failed(request.client.host if request.client else "unknown")
            if limited is not None:
                page = render(request, "login.html", status_code=429, next=target, error=str(limited))
                page.headers["Retry-After"] = limited.headers["Retry-After"]
                return page
        return render(request, "login.html", status_code=401, next=target, error=str(exc))
    request.state.new_session = fresh(info)
    return redirect(target)


@router.post("/logout")
async def logout(request: Request, form: Form) -> Response:
    """End the session: a new anonymous one replaces it."""
    request.state.new_session = fresh()
    return redirect("/login")

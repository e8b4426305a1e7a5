"""Which workspace a page acts in (one dependency for every page), the operator's switcher and overview.

A page's workspace is in its URL: `/workspaces/{ws}/…` serves every page of `/…` in workspace `ws`,
and `/…` serves them in the key's own workspace (an operator key's: `default`), as the API's routes
do. A workspace key acts in its own workspace only and never sees another's name; an operator key
switches with the header's form. An unknown workspace, or another one for a workspace key, is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.dashboard.render import PageRoute, redirect, render
from email_infrastructure.dashboard.session import Visitor, logged_in
from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.scope import enter

#: the path prefix of a page in a named workspace (the path parameter is `workspace`)
PREFIX = "/workspaces/{workspace}"
#: the pages the switcher keeps you on (their path without the prefix); any other goes to the overview
SECTIONS = (
    "/",
    "/plan",
    "/jobs",
    "/servers",
    "/mailboxes",
    "/dmarc",
    "/events",
    "/admin/keys",
    "/admin/alerts",
    "/admin/vault",
    "/lookup",
)

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@dataclass(frozen=True)
class Place:
    """The workspace a page acts in, how its links address it, and (operator keys only) the others."""

    workspace: str
    #: what every link of the page starts with: "" on `/…`, `/workspaces/{ws}` on a named workspace's pages
    base: str
    #: every workspace, for the switcher; empty for a workspace key (it never sees the switcher)
    choices: list[str] = field(default_factory=list)


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


async def in_workspace(request: Request, who: Annotated[Visitor, Depends(logged_in)]) -> Visitor:
    """The logged-in visitor, once the request acts in its workspace (the URL's, else the key's own)."""
    assert who.key is not None
    requested = request.path_params.get("workspace")
    scope = await workspaces.request_scope(_app(request), who.key, requested)
    assert scope.name is not None
    # for the rest of this request's task: every unit of work the page's services open acts in it
    enter(scope)
    choices = await workspaces.all_names(_app(request)) if who.key.operator else []
    request.state.place = Place(scope.name, PREFIX.format(workspace=scope.name) if requested else "", choices)
    return who


#: a logged-in visitor acting in the page's workspace: every page but login, logout and the operator's
Member = Annotated[Visitor, Depends(in_workspace)]


async def operator(who: Annotated[Visitor, Depends(logged_in)]) -> Visitor:
    """The visitor, who must hold an operator key: to a workspace key these pages do not exist (404)."""
    assert who.key is not None
    if not who.key.operator:
        raise NotFoundError("no such page")
    return who


Operator = Annotated[Visitor, Depends(operator)]


@router.get("/workspaces")
async def workspaces_page(request: Request, who: Operator) -> Response:
    """Every workspace's health (domains, mailboxes, servers, failing checks), each linked to its overview."""
    found = await workspaces.list_workspaces(_app(request))
    totals = {k: sum(w.counts.get(k, 0) for w in found) for k in ("domains", "mailboxes", "failing_checks")}
    rows = [w.as_dict() for w in found]
    return render(request, "workspaces.html", rows=rows, totals=totals, choices=[w.name for w in found])


@router.get("/switch")
async def switch(
    request: Request,
    who: Operator,
    workspace: Annotated[str, Query(max_length=64)],
    section: Annotated[str, Query(max_length=2000)] = "/",
) -> Response:
    """Go to the same page (or the overview) of another workspace; a GET: it changes nothing but the URL."""
    assert who.key is not None
    scope = await workspaces.request_scope(_app(request), who.key, workspace)
    target = PREFIX.format(workspace=scope.name) + (section if section in SECTIONS else "/")
    if request.headers.get("HX-Request") == "true":  # the select's change: htmx loads the page itself
        return Response(status_code=204, headers={"HX-Redirect": target})
    return redirect(target)


__all__ = ["PREFIX", "Member", "Operator", "Place", "in_workspace", "router"]

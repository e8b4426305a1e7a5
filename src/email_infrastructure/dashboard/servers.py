"""The server pages: every mail server of the workspace (`/servers`) and one server's page (`/servers/{name}`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, render
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/servers")
async def servers_page(request: Request, who: Member) -> Response:
    """One row per server, worst first: addresses, reverse DNS, lists it is on, port 25, domains, mailboxes."""
    from email_infrastructure.services.server_detail import list_server_rows

    return render(request, "servers.html", rows=await list_server_rows(_app(request)))


@router.get("/servers/{name}")
async def server_page(request: Request, who: Member, name: Annotated[str, Path(max_length=128)]) -> Response:
    """One server: addresses with reverse DNS and blocklists, port 25, TLS, its domains, mailboxes, events."""
    from email_infrastructure.services.server_detail import server_detail

    return render(request, "server.html", detail=await server_detail(_app(request), name))

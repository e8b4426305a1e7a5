"""The mailbox pages: a fleet-wide list (filters by domain, server and login status, pages of 50) and
one mailbox's page (its checks with findings and history). No credential is ever shown on them:
the read model (services/mailbox_views.py) never reads the vault."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, fragment, render
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PER_PAGE = 50


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/mailboxes")
async def mailboxes_page(
    request: Request,
    who: Member,
    q: Annotated[str, Query(max_length=320)] = "",
    domain: Annotated[str, Query(max_length=253)] = "",
    server: Annotated[str, Query(max_length=128)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Every mailbox with its domain, server and login-check status; filtered and paged in SQL."""
    from email_infrastructure.services.mailbox_views import SEND_TEST_NOTE, STATUSES, mailbox_list

    view = await mailbox_list(
        _app(request),
        domain=domain,
        server=server,
        status=status,
        search=q,
        limit=PER_PAGE,
        offset=(page - 1) * PER_PAGE,
    )
    pages = max(1, -(-view.matching // PER_PAGE))
    template = "_mailboxes_table.html" if fragment(request, "mailboxes") else "mailboxes.html"
    return render(
        request,
        template,
        view=view,
        statuses=STATUSES,
        filters={"q": q, "domain": domain, "server": server, "status": status},
        page=page,
        pages=pages,
        send_test_note=SEND_TEST_NOTE,
    )


@router.get("/mailboxes/{address}")
async def mailbox_page(request: Request, who: Member, address: Annotated[str, Path(max_length=320)]) -> Response:
    """One mailbox: its domain and server (linked), its login check with findings and history."""
    from email_infrastructure.services.mailbox_views import SEND_TEST_NOTE, mailbox_detail

    detail = await mailbox_detail(_app(request), address)
    return render(
        request,
        "mailbox.html",
        box=detail.mailbox,
        checks=detail.checks,
        findings=detail.findings,
        send_test_note=SEND_TEST_NOTE,
    )

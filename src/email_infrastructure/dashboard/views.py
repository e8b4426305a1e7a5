"""The read pages: a domain's page (records diff, findings, history, mailboxes), events."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from email_infrastructure.dashboard.render import PageRoute, link, redirect, render
from email_infrastructure.dashboard.session import check_csrf
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
PER_PAGE = 50


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/domains/{name}")
async def domain_page(request: Request, who: Member, name: str) -> Response:
    """Desired against live records, findings with their fixes, check history, DMARC reports, mailboxes."""
    from email_infrastructure.dashboard.chart import STATES, history_svg
    from email_infrastructure.dashboard.dmarc import panel_of
    from email_infrastructure.services.domain_detail import domain_detail

    detail = await domain_detail(_app(request), name)
    dmarc = detail.dmarc
    assert dmarc is not None and detail.timeline is not None  # a detail with its sections has them
    return render(
        request,
        "domain.html",
        domain=detail.view,
        ip=detail.ip,
        records=detail.records,
        notes=detail.notes,
        live_error=detail.live_error,
        sources=detail.sources,
        checks=detail.checks,
        findings=detail.findings,
        groups=detail.groups,
        chart=history_svg(detail.timeline, own=detail.view.name) if detail.timeline.lanes else None,
        chart_period=(detail.timeline.start, detail.timeline.end),
        states=STATES,
        mailboxes=detail.mailboxes,
        dmarc=panel_of(dmarc.summary, dmarc.days, dmarc.first, dmarc.last, dmarc.threshold, "30d"),
    )


@router.post("/domains/{name}/check")
async def recheck(request: Request, who: Member, form: Form, name: str) -> Response:
    """Run the DNS checks of one domain now and record them (write scope, as the API's check run)."""
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.monitoring import run_checks

    assert who.key is not None
    require(who.key, "write")
    view = await show_domain(_app(request), name)
    await run_checks(_app(request), view.name, "dns")
    return redirect(link(request, f"/domains/{view.name}"))


@router.get("/events")
async def events_page(
    request: Request,
    who: Member,
    topic: Annotated[str, Query(max_length=128)] = "",
    source: Annotated[str, Query(max_length=255)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """The audit log, newest first, filtered by topic prefix and source."""
    from email_infrastructure.services.history import events_page as page_of

    rows = await page_of(
        _app(request), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE, topic_prefix=topic, source=source
    )
    return render(
        request, "events.html", events=rows[:PER_PAGE], more=len(rows) > PER_PAGE, topic=topic, source=source, page=page
    )

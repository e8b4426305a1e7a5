"""The read pages: the fleet overview, a domain's page (records diff, findings, history, mailboxes), events."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.dashboard.render import PageRoute, redirect, render
from email_infrastructure.dashboard.session import Visitor, check_csrf, logged_in
from email_infrastructure.monitoring.findings import hint
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App

router = APIRouter(route_class=PageRoute, include_in_schema=False)
User = Annotated[Visitor, Depends(logged_in)]
Form = Annotated[dict[str, str], Depends(check_csrf)]
PER_PAGE = 50


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


@router.get("/")
async def overview_page(
    request: Request,
    who: User,
    q: Annotated[str, Query(max_length=253)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """One row per domain, a coloured cell per check column; search, filter by status, pages of 50."""
    from email_infrastructure.services.overview import COLUMNS, STATUSES, overview

    view = await overview(_app(request), search=q, status=status or None, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    pages = max(1, -(-view.matching // PER_PAGE))
    template = "_overview_table.html" if request.headers.get("HX-Request") == "true" else "overview.html"
    return render(
        request,
        template,
        view=view,
        columns=[label for label, _ in COLUMNS],
        statuses=STATUSES,
        q=q,
        status=status,
        page=page,
        pages=pages,
    )


def _record_rows(desired: list[Any], changes: list[dict[str, Any]], live_read: bool) -> list[dict[str, Any]]:
    """Desired records against live ones: in sync, missing, different; live-only records we own last."""
    by_key = {(c["name"], c["type"]): c for c in changes}
    rows = []
    for record in desired:
        change = by_key.pop((record.name, record.type), None)
        if change is None:
            state, live = ("in sync" if live_read else "not read"), list(record.values) if live_read else []
        elif change["action"] == "create":
            state, live = "missing", []
        else:
            state, live = "different", list((change.get("old") or {}).get("values", []))
        rows.append(
            {"name": record.name, "type": record.type, "desired": list(record.values), "live": live, "state": state}
        )
    for change in by_key.values():
        old = (change.get("old") or {}).get("values", [])
        state = "to delete" if change["action"] == "delete" else change["action"]
        new = (change.get("new") or {}).get("values", [])
        rows.append({"name": change["name"], "type": change["type"], "desired": new, "live": old, "state": state})
    return rows


@router.get("/domains/{name}")
async def domain_page(request: Request, who: User, name: str) -> Response:
    """Desired against live records, findings with their fixes, check history, DMARC reports, mailboxes."""
    from email_infrastructure.dashboard.dmarc import panel
    from email_infrastructure.services.desired import desired_inventory
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.overview import domain_checks
    from email_infrastructure.services.plans import plan
    from email_infrastructure.services.records import desired_records

    app = _app(request)
    view = await show_domain(app, name)
    zone = await desired_records(app, view.name)
    live_error: str | None = None
    changes: list[dict[str, Any]] = []
    try:
        planned = await plan(app, only=[view.name])
    except EmailInfraError as exc:
        live_error = str(exc)
    else:
        zones = [z for z in planned.zones if z.zone == view.name]
        changes = [c.to_json() for z in zones for c in z.changes]
        live_error = next((z.error for z in zones if z.error), None)
    server = (await desired_inventory(app)).server(view.spec["server"]) if view.spec.get("server") else None
    ip = str(server.ipv4) if server is not None and server.ipv4 else None
    subjects: list[str] = [view.name, *([ip] if ip else []), *view.mailboxes]
    checks = await domain_checks(app, subjects)
    findings = [
        {**f, "hint": f.get("hint") or hint(str(f.get("id", ""))), "check": c.check, "subject": c.subject}
        for c in checks
        for f in c.findings
        if f.get("severity") in ("error", "warning")
    ]
    mailbox_states = {c.subject: c.status for c in checks if c.check == "mailbox"}
    dmarc = await panel(app, view.name, "30d")
    return render(
        request,
        "domain.html",
        domain=view,
        ip=ip,
        records=_record_rows(zone.records, changes, live_error is None),
        notes=zone.notes,
        live_error=live_error,
        checks=checks,
        findings=findings,
        mailboxes=[(m, mailbox_states.get(m, "none")) for m in view.mailboxes],
        dmarc=dmarc,
    )


@router.post("/domains/{name}/check")
async def recheck(request: Request, who: User, form: Form, name: str) -> Response:
    """Run the DNS checks of one domain now and record them (write scope, as the API's check run)."""
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.monitoring import run_checks

    assert who.key is not None
    require(who.key, "write")
    view = await show_domain(_app(request), name)
    await run_checks(_app(request), view.name, "dns")
    return redirect(f"/domains/{view.name}")


@router.get("/events")
async def events_page(
    request: Request,
    who: User,
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

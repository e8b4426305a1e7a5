"""The overview: every domain's checks, filtered and sorted in SQL; grouped findings; CSV; bulk re-check."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response, StreamingResponse

from email_infrastructure.dashboard.render import PageRoute, fragment, link, redirect, render
from email_infrastructure.dashboard.session import check_csrf
from email_infrastructure.dashboard.workspaces import Member
from email_infrastructure.services.apikeys import require
from email_infrastructure.services.app import App
from email_infrastructure.services.overview import COLUMN_KEYS, COLUMNS, SORTS, STATUSES, OverviewQuery
from email_infrastructure.services.queue import TaskQueue
from email_infrastructure.services.scope import acting_in, chosen

router = APIRouter(route_class=PageRoute, include_in_schema=False)
Form = Annotated[dict[str, str], Depends(check_csrf)]
PER_PAGE = 50
#: the filter and sort parameters, in the order links carry them
FILTERS = ("q", "status", "server", "provider", "check", "check_status", "sort", "dir")
#: sorts that start ascending when first chosen (the others show the worst or newest first)
_ASCENDING_FIRST = ("name", "server", "provider")
#: a CSV cell a spreadsheet would run as a formula starts with one of these (OWASP: CSV injection)
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _app(request: Request) -> App:
    app: App = request.app.state.app
    return app


def _params(source: dict[str, str]) -> dict[str, str]:
    """The non-empty filter and sort parameters of a query string or form."""
    return {k: str(source[k]).strip() for k in FILTERS if str(source.get(k) or "").strip()}


def query_of(params: dict[str, str]) -> OverviewQuery:
    """The service's query of the page's parameters (a bad value: UserError, a 400 page)."""
    sort = params.get("sort", "status")
    default = "asc" if sort in _ASCENDING_FIRST else "desc"
    return OverviewQuery(
        search=params.get("q", "")[:253],
        status=params.get("status"),
        server=params.get("server"),
        provider=params.get("provider"),
        check=params.get("check"),
        # the status select always sends one: it means something only with a check chosen
        check_status=(params.get("check_status") or "error") if params.get("check") else None,
        sort=sort,
        descending=params.get("dir", default) == "desc",
    )


def _sort_links(params: dict[str, str], query: OverviewQuery) -> dict[str, str]:
    """Each sort key's link: the current key flips its direction, another starts at its default."""
    links = {}
    for key in SORTS:
        if key == query.sort:
            direction = "asc" if query.descending else "desc"
        else:
            direction = "asc" if key in _ASCENDING_FIRST else "desc"
        links[key] = urlencode(
            {**{k: v for k, v in params.items() if k not in ("sort", "dir")}, "sort": key, "dir": direction}
        )
    return links


@router.get("/")
async def overview_page(request: Request, who: Member, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    """Errors first; sort by any column; filter by status, server, DNS provider, check; pages of 50."""
    from email_infrastructure.services.overview import overview
    from email_infrastructure.services.overview_groups import finding_groups
    from email_infrastructure.services.recheck import RECHECK_LIMIT

    params = _params(dict(request.query_params))
    query = query_of(params)
    view = await overview(_app(request), query, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    pages = max(1, -(-view.matching // PER_PAGE))
    swap = fragment(request, "fleet")
    return render(
        request,
        "_overview_table.html" if swap else "overview.html",
        view=view,
        groups=[] if swap else await finding_groups(_app(request)),
        columns=[label for label, _ in COLUMNS],
        keys=COLUMN_KEYS,
        statuses=STATUSES,
        params=params,
        query=query,
        sorts=_sort_links(params, query),
        filtered=urlencode({k: v for k, v in params.items() if k not in ("sort", "dir")}),
        q=params.get("q", ""),
        status=params.get("status", ""),
        page=page,
        pages=pages,
        limit=RECHECK_LIMIT,
    )


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


@router.get("/overview.csv")
async def overview_csv(request: Request, who: Member) -> Response:
    """The filtered set as CSV (every matching domain, in the page's order), one column per check."""
    from email_infrastructure.services.overview import overview_rows

    query = query_of(_params(dict(request.query_params)))
    app, scope = _app(request), chosen()
    header = ["domain", "server", "ip", "dns_provider", *COLUMN_KEYS.values(), "status", "checked_at"]

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        with acting_in(scope) if scope is not None else contextlib.nullcontext():
            async for row in overview_rows(app, query):
                cells = [row.cells[label] for label in COLUMN_KEYS]
                when = row.checked_at.isoformat() if row.checked_at else ""
                writer.writerow(
                    [_cell(v) for v in (row.name, row.server, row.ip, row.provider, *cells, row.status, when)]
                )
                if out.tell() > 64_000:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
        yield out.getvalue()

    disposition = 'attachment; filename="overview.csv"'
    return StreamingResponse(
        lines(), media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition}
    )


@router.post("/overview/recheck")
async def bulk_recheck(request: Request, who: Member, form: Form) -> Response:
    """Re-check the filtered set (its first 1,000) as one job (write scope); the job's page shows its progress."""
    from email_infrastructure.services.recheck import submit_recheck

    assert who.key is not None
    require(who.key, "write")
    queue: TaskQueue = request.app.state.runner
    job, _matching = await submit_recheck(_app(request), queue, query_of(_params(form)), key_name=who.key.name)
    return redirect(link(request, f"/jobs/{job.id}"))

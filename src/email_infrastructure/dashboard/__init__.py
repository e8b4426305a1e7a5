"""The dashboard: server-rendered pages (Jinja2 + vendored htmx) over the same services as the API.

`extension` plugs it into `api.app.create_app(extensions=[extension])`: the pages at `/` (and again
at `/workspaces/{ws}/`, dashboard/workspaces.py) and the static files at `/static`; pages read the
API's state (`api.state.app`, `.keys`, `.runner`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def extension(api: FastAPI) -> None:
    """Add the dashboard's pages and static files to the API app."""
    from email_infrastructure.dashboard import (
        admin,
        auth,
        dmarc,
        edit,
        live,
        lookup,
        mailboxes,
        overview,
        plans,
        servers,
        views,
        workspaces,
    )

    api.include_router(auth.router)
    api.include_router(workspaces.router)
    # edit first: its `/domains/new` is not the domain page of a domain called `new`
    for module in (edit, overview, views, plans, dmarc, mailboxes, servers, live, admin, lookup):
        # each page twice: in the key's own workspace at `/…`, in a named one at `/workspaces/{ws}/…`
        api.include_router(module.router)
        api.include_router(module.router, prefix=workspaces.PREFIX)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")


__all__ = ["extension"]

"""The dashboard: server-rendered pages (Jinja2 + vendored htmx) over the same services as the API.

`extension` plugs it into `api.app.create_app(extensions=[extension])`: the pages router at `/`
and the static files at `/static`; pages read the API's state (`api.state.app`, `.keys`, `.runner`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


def extension(api: FastAPI) -> None:
    """Add the dashboard's pages and static files to the API app."""
    from email_infrastructure.dashboard import auth, dmarc, plans, views

    for module in (auth, views, plans, dmarc):
        api.include_router(module.router)
    api.mount("/static", StaticFiles(directory=STATIC), name="static")


__all__ = ["extension"]

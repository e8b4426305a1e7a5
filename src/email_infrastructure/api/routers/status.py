"""`GET /api/v1/{dns,mailcow,vps,monitoring}/status`: each component's health check (services/status.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, StatusData, ok

router = APIRouter(tags=["status"])
COMPONENTS = ("dns", "mailcow", "vps", "monitoring")


def _route(component: str) -> Callable[..., Awaitable[Envelope[StatusData]]]:
    async def component_status(app: AppDep, key: ReadKey) -> Envelope[StatusData]:
        from email_infrastructure.services.status import status

        report = await status(app)
        health = report.components[component]
        return ok(StatusData(component=component, state=report.state, status=health.status.value, detail=health.detail))

    component_status.__doc__ = f"The health of {component}."
    component_status.__name__ = f"{component}_status"
    return component_status


for _name in COMPONENTS:
    router.add_api_route(f"/{_name}/status", _route(_name), methods=["GET"], response_model=Envelope[StatusData])

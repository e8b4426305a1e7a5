"""`/health` (liveness), `/ready` (database reachable, migrations current), `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, Health, Liveness, ok

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Envelope[Liveness])
async def health() -> Envelope[Liveness]:
    """The process answers (no database involved)."""
    return ok(Liveness(status="ok"))


@router.get("/ready", response_model=Envelope[Health])
async def ready(app: AppDep) -> Envelope[Health]:
    """503 unless the database answers and its schema is at this version's migration head."""
    from email_infrastructure.services.schema import ready_schema

    return ok(Health(status="ok", detail=await ready_schema(app)))


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics(request: Request, app: AppDep, key: ReadKey) -> Response:
    """The current check states for Prometheus (scrape with the key as a bearer token)."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from email_infrastructure.services.monitoring import metrics_text

    headers = dict(getattr(request.state, "rate_limit_headers", {}))
    return Response(await metrics_text(app), media_type=CONTENT_TYPE_LATEST, headers=headers)

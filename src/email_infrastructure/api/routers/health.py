"""`/health` (liveness), `/ready` (database reachable, migrations current), `/metrics` (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, Health, Liveness, ok
from email_infrastructure.core.errors import EmailInfraError, StorageError

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Envelope[Liveness])
async def health() -> Envelope[Liveness]:
    """The process answers (no database involved)."""
    return ok(Liveness(status="ok"))


@router.get("/ready", response_model=Envelope[Health])
async def ready(app: AppDep) -> Envelope[Health]:
    """503 unless the database answers and its schema is at this version's migration head."""
    from email_infrastructure.storage.migrate import current_revision, head_revision

    try:
        db = await app.database()
        revision = await current_revision(db.engine)
    except EmailInfraError:
        raise
    except Exception as exc:
        raise StorageError(f"the database does not answer: {type(exc).__name__}") from None
    if revision != head_revision():
        raise StorageError(f"the database schema is at {revision or 'nothing'}, this version needs {head_revision()}")
    return ok(Health(status="ok", detail=f"{db.engine.dialect.name} at revision {revision}"))


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

"""`GET /api/v1/domains/{name}/records`: desired records (services/records.py), and with `live` the drift."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, RecordOut, RecordsData, ok
from email_infrastructure.core.errors import EmailInfraError

router = APIRouter(prefix="/domains", tags=["records"])


@router.get("/{name}/records", response_model=Envelope[RecordsData])
async def domain_records(
    app: AppDep,
    key: ReadKey,
    name: str,
    live: Annotated[bool, Query(description="Also read the DNS provider: the changes apply would make.")] = False,
) -> Envelope[RecordsData]:
    """The records a domain needs; with `live`, what its DNS provider holds differently (old = live)."""
    from email_infrastructure.services.domains import show_domain
    from email_infrastructure.services.plans import plan
    from email_infrastructure.services.records import desired_records

    view = await show_domain(app, name)
    zone = await desired_records(app, view.name)
    data = RecordsData(
        domain=view.name,
        desired=[RecordOut(name=r.name, type=r.type, ttl=r.ttl, values=list(r.values)) for r in zone.records],
        notes=list(zone.notes),
    )
    if live:
        try:
            planned = await plan(app, only=[view.name])
        except EmailInfraError as exc:
            data.live_error = str(exc)
        else:
            zones = [z for z in planned.zones if z.zone == view.name]
            data.drift = [c.to_json() for z in zones for c in z.changes]
            data.live_error = next((z.error for z in zones if z.error), None)
    return ok(data)

"""`GET /api/v1/domains/{name}/records`: desired records (services/records.py), and with `live` the drift."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from email_infrastructure.api.deps import AppDep, ReadKey
from email_infrastructure.api.schemas import Envelope, RecordOut, RecordsData, ok

router = APIRouter(prefix="/domains", tags=["records"])


@router.get("/{name}/records", response_model=Envelope[RecordsData])
async def domain_records(
    app: AppDep,
    key: ReadKey,
    name: str,
    live: Annotated[bool, Query(description="Also read the DNS provider: the changes apply would make.")] = False,
) -> Envelope[RecordsData]:
    """The records a domain needs; with `live`, what its DNS provider holds differently (old = live)."""
    from email_infrastructure.services.domains import domain_inventory
    from email_infrastructure.services.records import desired_records, live_drift

    # the domain's own desired state, read once: never the fleet's
    inventory, view = await domain_inventory(app, name)
    zone = await desired_records(app, view.name, inventory=inventory)
    data = RecordsData(
        domain=view.name,
        desired=[RecordOut(name=r.name, type=r.type, ttl=r.ttl, values=list(r.values)) for r in zone.records],
        notes=list(zone.notes),
    )
    if live:
        drift = await live_drift(app, view.name, inventory=inventory)
        data.drift, data.live_error = drift.changes, drift.error
    return ok(data)

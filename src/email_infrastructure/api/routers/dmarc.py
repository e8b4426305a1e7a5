"""`/api/v1/dmarc`: report summaries, daily pass rates, the stored reports, and a report upload (services/dmarc.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from email_infrastructure.api.deps import AppDep, ReadKey, WriteKey
from email_infrastructure.api.schemas import (
    DmarcDayOut,
    DmarcReportList,
    DmarcReportOut,
    DmarcSummaryOut,
    Envelope,
    IngestOut,
    ok,
)
from email_infrastructure.core.errors import UserError
from email_infrastructure.services.dmarc import IngestOptions, ingest_upload
from email_infrastructure.services.dmarc_views import daily_pass_rates, dmarc_summary, list_reports, parse_since

router = APIRouter(prefix="/dmarc", tags=["dmarc"])
Domain = Annotated[str | None, Query(max_length=253, description="one domain (its subdomains' reports included)")]
Since = Annotated[str, Query(max_length=8, pattern=r"^(all|\d{1,4}[dwDW])$", description="e.g. 30d or 2w, or all")]
#: the summary's sections; `all` is the CLI's JSON as it is
GROUPS = {"domain": "domains", "source": "sources", "organisation": "organisations"}
UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One report file as it arrived: raw XML or JSON, gzip, zip, an .eml message or an mbox.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


class NothingStoredError(UserError):
    """An upload none of whose reports could be stored (400): the reasons are in the message."""


@router.get("/summary", response_model=Envelope[DmarcSummaryOut])
async def summary(
    app: AppDep,
    key: ReadKey,
    domain: Domain = None,
    since: Since = "30d",
    group: Annotated[
        Literal["all", "domain", "source", "organisation"],
        Query(description="keep only this section of totals (the others come back empty)"),
    ] = "all",
) -> Envelope[DmarcSummaryOut]:
    """Volume and pass rates per domain, sending source and reporting organisation; TLS failures."""
    data = (await dmarc_summary(app, domain, parse_since(since))).to_json()
    if group != "all":
        for name, section in GROUPS.items():
            if name != group:
                data[section] = []
    return ok(DmarcSummaryOut.model_validate(data))


@router.get("/pass-rates", response_model=Envelope[list[DmarcDayOut]])
async def pass_rates(
    app: AppDep, key: ReadKey, domain: Domain = None, since: Since = "30d"
) -> Envelope[list[DmarcDayOut]]:
    """DMARC, SPF-aligned and DKIM-aligned pass rates per domain per day, oldest day first."""
    days = await daily_pass_rates(app, domain, parse_since(since))
    return ok([DmarcDayOut.model_validate(d.to_json()) for d in days])


@router.get("/reports", response_model=Envelope[DmarcReportList])
async def reports(
    app: AppDep,
    key: ReadKey,
    domain: Domain = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Envelope[DmarcReportList]:
    """The stored aggregate reports (metadata, not records), newest period first."""
    items, total = await list_reports(app, domain, limit, offset)
    out = [DmarcReportOut.model_validate(i.to_json()) for i in items]
    return ok(DmarcReportList(items=out, total=total, limit=limit, offset=offset))


@router.post("/reports", response_model=Envelope[IngestOut], openapi_extra=UPLOAD_BODY)
async def upload_report(
    request: Request,
    app: AppDep,
    key: WriteKey,
    filename: Annotated[str, Query(max_length=255, description="a name for the upload in the summary")] = "upload",
    resolve: Annotated[bool, Query(description="look up the sources' reverse DNS")] = True,
) -> Envelope[IngestOut]:
    """Ingest one report file (the body) as `email-infra dmarc ingest` does; 400 when nothing in it can be stored.

    Duplicates are not an error: the response says `duplicate`. The body limit is the API's.
    """
    data = await request.body()
    result = await ingest_upload(app, data, filename, IngestOptions(resolve=resolve))
    if result.items and all(i.status == "skipped" for i in result.items):
        reasons = "; ".join(f"{i.origin}: {i.reason}" for i in result.items)
        raise NothingStoredError(f"nothing in the upload could be stored: {reasons}")
    return ok(IngestOut.model_validate(result.to_json()))

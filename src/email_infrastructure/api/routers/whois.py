"""`GET /api/v1/whois/{name}`: any domain's registration through RDAP (services/whois.py); read scope, rate limited."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from email_infrastructure.api.deps import AppDep, ReadCreateKey
from email_infrastructure.api.schemas import Envelope, ok

router = APIRouter(tags=["registration"])


@router.get("/whois/{name}", response_model=Envelope[dict[str, Any]])
async def whois(
    app: AppDep, key: ReadCreateKey, name: Annotated[str, Path(min_length=1, max_length=253)]
) -> Envelope[dict[str, Any]]:
    """What the registry's RDAP says of any domain, like `email-infra domain whois`: dates, status, registrar,
    nameservers.

    `status` is `found`, `not_found` (the registry answered 404: not registered) or `unknown` (rate
    limited, a server error, a timeout, no RDAP service for the TLD) with a `reason`; all are 200: the
    lookup worked, whatever the registry said. The server's RDAP bootstrap is used; a client cannot
    make it ask elsewhere. Rate limited like the audit: every call may query a registry.
    """
    from email_infrastructure.services.whois import whois as lookup_domain

    return ok((await lookup_domain(app, name)).to_json())

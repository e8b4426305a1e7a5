"""`GET /api/v1/registrars/quote`: availability and price of names at a registrar (`domain check`); buys nothing.

Read scope with the write (create) limit: every call costs requests at the registrar, whose own
limits are tight (Porkbun: ten checks per ten seconds). Buying is the apply path only:
`POST /api/v1/plans/{id}/buy`, admin scope.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from email_infrastructure.api.deps import AppDep, ReadCreateKey
from email_infrastructure.api.schemas import Envelope, ok


class QuoteOut(BaseModel):
    """One name's availability and price (amounts as text: never float)."""

    domain: str
    available: bool
    price: str | None
    years: int
    premium: bool
    renewal: str | None
    currency: str
    note: str


class QuotesOut(BaseModel):
    """The registrar asked and a quote per name (`email-infra domain check --format json`)."""

    registrar: str
    type: str
    quotes: list[QuoteOut]


router = APIRouter(prefix="/registrars", tags=["registrars"])


@router.get("/quote", response_model=Envelope[QuotesOut])
async def quote(
    app: AppDep,
    key: ReadCreateKey,
    domain: Annotated[list[str], Query(min_length=1, max_length=50, description="names to price (repeatable)")],
    registrar: Annotated[
        str | None, Query(max_length=128, description="its name under providers.registrars (default: defaults')")
    ] = None,
) -> Envelope[QuotesOut]:
    """Availability and one year's price of each name at the registrar; premium names are flagged (never bought)."""
    from email_infrastructure.services.registrar_quotes import check_domains

    view = await check_domains(app, domain, registrar=registrar)
    return ok(QuotesOut.model_validate(view.to_json()))

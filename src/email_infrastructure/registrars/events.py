"""Topics the registrar component publishes, with their payload types."""

from __future__ import annotations

from typing import TypedDict

from email_infrastructure.core.events import Topic


class DomainRegisteredPayload(TypedDict):
    """A domain bought at a registrar: what it cost (a Decimal as text, never float) and its order."""

    domain: str
    registrar: str
    price: str
    currency: str
    years: int
    #: the registrar's order id; None when the answer was lost and the domain was found by a lookup
    order_id: str | None


class NameserversPayload(TypedDict):
    """A domain's delegation set at its registrar, and read back."""

    domain: str
    registrar: str
    nameservers: list[str]
    previous: list[str]


DOMAIN_REGISTERED: Topic[DomainRegisteredPayload] = Topic("registrar.domain.registered", DomainRegisteredPayload)
NAMESERVERS_UPDATED: Topic[NameserversPayload] = Topic("registrar.nameservers.updated", NameserversPayload)

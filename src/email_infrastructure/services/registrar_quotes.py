"""`domain check`: availability and price of names at a registrar of the desired state; buys nothing.

The registrar is the one named, else the defaults' `registrar`, else the only one declared. A quote
is a read at the registrar (cached briefly in its client); nothing is stored and no event is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.registrars.provider import Quote
from email_infrastructure.registrars.registry import build_registrar
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import stored_inventory

#: names one check may ask about (Namecheap's one call; Porkbun's ten checks per ten seconds spread it out)
MAX_NAMES = 50


@dataclass
class QuoteView:
    """The registrar asked and its quote for each name, in the order asked."""

    registrar: str
    type: str
    quotes: list[Quote] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """JSON form (amounts as text)."""
        return {"registrar": self.registrar, "type": self.type, "quotes": [q.to_json() for q in self.quotes]}


def _registrar_name(inventory: Inventory, wanted: str | None) -> str:
    declared = sorted(inventory.providers.registrars)
    if wanted is not None:
        if wanted not in declared:
            raise NotFoundError(f"no registrar named {wanted!r} (declared: {', '.join(declared) or 'none'})")
        return wanted
    if inventory.defaults.registrar:
        return inventory.defaults.registrar
    if len(declared) == 1:
        return declared[0]
    if not declared:
        raise UserError("no registrar is declared (providers.registrars in the inventory)")
    raise UserError(f"several registrars are declared ({', '.join(declared)}): name one with --registrar")


async def check_domains(
    app: App, names: Sequence[str], *, registrar: str | None = None, inventory: Inventory | None = None
) -> QuoteView:
    """Availability and price for one year of each name at the registrar (`inventory`: a file's, else the stored)."""
    if not names:
        raise UserError("name at least one domain")
    if len(names) > MAX_NAMES:
        raise UserError(f"at most {MAX_NAMES} names in one check ({len(names)} given)")
    try:
        domains = list(dict.fromkeys(normalise_domain(n) for n in names))
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if inventory is None:
        inventory = await stored_inventory(app)
    if inventory is None:
        raise UserError("no desired state is stored: give the inventory with -f FILE")
    name = _registrar_name(inventory, registrar)
    client = build_registrar(name, inventory.providers.registrars[name])
    try:
        quotes = await client.quote(domains)
    finally:
        await client.aclose()
    return QuoteView(name, client.type, [quotes[d] for d in domains if d in quotes])

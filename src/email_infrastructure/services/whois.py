"""`domain whois`: what RDAP says of any domain (read only; no stored state is read or written)."""

from __future__ import annotations

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.registrars.rdap_model import Lookup
from email_infrastructure.services.app import App


async def whois(app: App, name: str) -> Lookup:
    """The RDAP lookup of `name` (bootstrap from `EMAIL_INFRA_RDAP_BOOTSTRAP` or IANA, cached in the data dir)."""
    from email_infrastructure.registrars.rdap import RdapClient

    try:
        domain = normalise_domain(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    async with RdapClient.from_env(cache_dir=app.settings.data_dir / "cache") as client:
        return await client.lookup(domain)

"""Registrars, registered by the `type` used in the inventory (like sequencers.registry)."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import ValidationError

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.registrars.common import QuoteCache
from email_infrastructure.registrars.config import PROVIDER_SETTINGS, NamecheapSettings, PorkbunSettings
from email_infrastructure.registrars.namecheap import SANDBOX_API_URL, NamecheapRegistrar
from email_infrastructure.registrars.porkbun import PorkbunRegistrar
from email_infrastructure.registrars.provider import Registrar

#: one quote cache per account in this process: a plan and the apply (or API call) right after it
#: ask the registrar once, though each builds its own client
_QUOTES: dict[str, QuoteCache] = {}


def _quote_cache(*identity: str) -> QuoteCache:
    key = hashlib.sha256("\0".join(identity).encode()).hexdigest()  # never a credential as a plain key
    return _QUOTES.setdefault(key, QuoteCache())


def build_registrar(name: str, spec: ProviderSpec, **options: Any) -> Registrar:
    """The registrar of `providers.registrars.<name>`, its credentials resolved from the environment.

    `options` go to the client (tests pass `transport`, `clock`, `sleep`).
    """
    model = PROVIDER_SETTINGS.get(spec.type)
    if model is None:
        raise UserError(f"registrar {name}: unknown type {spec.type!r} (known: {', '.join(sorted(PROVIDER_SETTINGS))})")
    try:
        settings = model.model_validate(spec.settings)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UserError(f"registrar {name}: {where}: {first['msg']}") from None
    if isinstance(settings, PorkbunSettings):
        apikey = resolve_secret(settings.apikey)
        options.setdefault("quote_cache", _quote_cache("porkbun", settings.api_url or "", apikey))
        return PorkbunRegistrar(
            apikey, resolve_secret(settings.secretapikey), name=name, api_url=settings.api_url, **options
        )
    assert isinstance(settings, NamecheapSettings)
    contact = settings.contact.model_dump(exclude_none=True) if settings.contact is not None else None
    url = settings.api_url or (SANDBOX_API_URL if settings.sandbox else None)
    options.setdefault("quote_cache", _quote_cache("namecheap", url or "", settings.api_user))
    return NamecheapRegistrar(
        settings.api_user,
        resolve_secret(settings.api_key),
        str(settings.client_ip),
        name=name,
        username=settings.username,
        api_url=url,
        contact=contact,
        **options,
    )

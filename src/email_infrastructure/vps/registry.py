"""VPS providers, registered by the `type` used in the inventory (like dns.providers and mailcow.registry)."""

from __future__ import annotations

from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.vps.config import VpsSettings
from email_infrastructure.vps.digitalocean import DigitalOceanProvider
from email_infrastructure.vps.hetzner import HetznerProvider
from email_infrastructure.vps.provider import VpsProvider
from email_infrastructure.vps.vultr import VultrProvider

PROVIDERS: dict[str, type[HetznerProvider] | type[DigitalOceanProvider] | type[VultrProvider]] = {
    "hetzner": HetznerProvider,
    "digitalocean": DigitalOceanProvider,
    "vultr": VultrProvider,
}


def build_provider(
    type_: str,
    settings: VpsSettings,
    *,
    token: str | None = None,
    name: str | None = None,
    poll_interval: float | None = None,
) -> VpsProvider:
    """Instantiate a provider of `type_`; the token is resolved from `settings.token` (`env:NAME`) unless given."""
    cls = PROVIDERS.get(type_)
    if cls is None:
        raise UserError(f"VPS provider {name or type_}: unknown type {type_!r} (known: {', '.join(sorted(PROVIDERS))})")
    options: dict[str, Any] = {"api_url": settings.api_url, "ssh_keys": tuple(settings.ssh_keys), "name": name or type_}
    if poll_interval is not None:
        options["poll_interval"] = poll_interval
    provider: VpsProvider = cls(token if token is not None else resolve_secret(settings.token), **options)
    return provider


def build_from_spec(name: str, spec: ProviderSpec, *, poll_interval: float | None = None) -> VpsProvider:
    """Instantiate the VPS provider declared under `providers.vps.<name>`."""
    if spec.type not in PROVIDERS:
        raise UserError(f"VPS provider {name}: unknown type {spec.type!r} (known: {', '.join(sorted(PROVIDERS))})")
    settings = VpsSettings.model_validate(spec.settings)
    interval = poll_interval if poll_interval is not None else settings.poll_interval
    return build_provider(spec.type, settings, name=name, poll_interval=interval)

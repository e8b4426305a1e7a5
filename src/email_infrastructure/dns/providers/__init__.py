"""DNS providers, registered by the `type` used in the inventory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.dns.providers.base import DnsProvider, ProviderContext
from email_infrastructure.dns.providers.cloudflare import CloudflareProvider
from email_infrastructure.dns.providers.powerdns import PowerDnsProvider
from email_infrastructure.dns.providers.zonefile import ZonefileProvider

PROVIDERS: dict[str, type[DnsProvider[Any]]] = {
    "zonefile": ZonefileProvider,
    "powerdns": PowerDnsProvider,
    "cloudflare": CloudflareProvider,
}


def build_provider(
    name: str, spec: ProviderSpec, data_dir: Path, *, limiters: dict[str, Any] | None = None
) -> DnsProvider[Any]:
    """Instantiate the provider declared under `name` (`limiters`: a registry its rate limiters are shared in)."""
    cls = PROVIDERS.get(spec.type)
    if cls is None:
        raise UserError(f"DNS provider {name}: unknown type {spec.type!r}")
    settings = cls.settings_model.model_validate(spec.settings)
    return cls(name, settings, ProviderContext(data_dir=data_dir, limiters=limiters))


__all__ = ["PROVIDERS", "DnsProvider", "ProviderContext", "build_provider"]

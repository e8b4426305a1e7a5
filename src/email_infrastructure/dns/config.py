"""Settings of `dns` providers, one model per provider type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_ENV_REF = r"^env:[A-Za-z_][A-Za-z0-9_]*$"
_HOST = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?\.?$"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZonefileSettings(_Settings):
    """One RFC 1035 zone file per domain in `directory` (relative to the data directory)."""

    directory: str = "zones"
    nameservers: list[str] = Field(default_factory=lambda: ["ns1.localhost.", "ns2.localhost."])
    hostmaster: str = Field(default="hostmaster", pattern=_HOST)


class PowerDnsSettings(_Settings):
    """The PowerDNS Authoritative HTTP API."""

    api_url: str = Field(pattern=r"^https?://\S+$")
    api_key: str = Field(pattern=_ENV_REF)
    server_id: str = "localhost"
    nameservers: list[str] = Field(default_factory=lambda: ["ns1.localhost.", "ns2.localhost."])
    zone_kind: str = Field(default="Native", pattern=r"^(Native|Master|Slave)$")
    create_zones: bool = True


class CloudflareSettings(_Settings):
    """Cloudflare API v4 with an API token."""

    api_token: str = Field(pattern=_ENV_REF)
    api_url: str = Field(default="https://api.cloudflare.com/client/v4", pattern=r"^https?://\S+$")
    account_id: str | None = None
    batch_limit: int = Field(default=200, ge=1, le=3500)
    requests_per_5_minutes: int = Field(default=1200, ge=1, le=1200)


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {
    "zonefile": ZonefileSettings,
    "powerdns": PowerDnsSettings,
    "cloudflare": CloudflareSettings,
}

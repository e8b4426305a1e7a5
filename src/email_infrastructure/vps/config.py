"""Settings of `vps` providers (Hetzner Cloud, DigitalOcean, Vultr)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VpsSettings(BaseModel):
    """`providers.vps.<name>`: an API token reference and optional SSH keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")
    ssh_keys: list[str] = Field(default_factory=list)
    api_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    #: seconds between polls of a provider action (creation, reverse DNS)
    poll_interval: float = Field(default=1.0, gt=0, le=60)


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {
    "hetzner": VpsSettings,
    "digitalocean": VpsSettings,
    "vultr": VpsSettings,
}

"""Settings of `sequencers` providers (Instantly, Smartlead, EmailBison, ReachInbox)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

_ENV_REF = r"^env:[A-Za-z_][A-Za-z0-9_]*$"
_URL = r"^https?://\S+$"


class SequencerSettings(BaseModel):
    """`providers.sequencers.<name>`: the API token as an `env:NAME` reference, and where the API is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: str = Field(pattern=_ENV_REF)
    #: the API's base URL; default: the vendor's documented one
    api_url: str | None = Field(default=None, pattern=_URL)
    #: requests per second this client sends at most (default: the vendor's documented limit)
    rate_limit: float | None = Field(default=None, gt=0, le=1000)


class EmailBisonSettings(SequencerSettings):
    """EmailBison runs one host per customer: its URL is required."""

    api_url: str = Field(pattern=_URL)


class SmartleadSettings(SequencerSettings):
    """Smartlead agencies file accounts under a client (`client_id`)."""

    client_id: int | None = Field(default=None, ge=1)


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {
    "instantly": SequencerSettings,
    "smartlead": SmartleadSettings,
    "emailbison": EmailBisonSettings,
    "reachinbox": SequencerSettings,
}

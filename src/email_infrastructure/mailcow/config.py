"""Settings of a `mail` provider of type mailcow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MailcowSettings(BaseModel):
    """`providers.mail.<name>` with `type: mailcow`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://\S+$")
    api_key: str = Field(pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")
    verify_tls: bool = True


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {"mailcow": MailcowSettings}

"""Settings of a `mail` provider of type mailcow."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class MailcowSettings(BaseModel):
    """`providers.mail.<name>` with `type: mailcow`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https?://\S+$")
    #: omitted for a server we create: the key we generate for its install is kept in the vault
    api_key: str | None = Field(default=None, pattern=r"^env:[A-Za-z_][A-Za-z0-9_]*$")
    verify_tls: bool = True
    #: each mailbox's quota (MiB); the domain's total is this times its mailbox cap
    mailbox_quota_mib: int = Field(default=3072, ge=1, le=1048576)
    #: seconds per API request (Mailcow's list endpoints are slow at scale)
    timeout: float = Field(default=30.0, gt=0, le=600)


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {"mailcow": MailcowSettings}

"""Settings of `providers.registrars.<name>` (Porkbun, Namecheap): credentials only as `env:NAME`."""

from __future__ import annotations

from ipaddress import IPv4Address

from pydantic import BaseModel, ConfigDict, Field

_ENV_REF = r"^env:[A-Za-z_][A-Za-z0-9_]*$"
_URL = r"^https?://\S+$"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegistrarSettings(_Settings):
    """What every registrar takes: where its API is (default: the vendor's production URL)."""

    api_url: str | None = Field(default=None, pattern=_URL)


class PorkbunSettings(RegistrarSettings):
    """Porkbun's key pair (`pk1_…`, `sk1_…`; sandbox keys are `pk1_sb_…`)."""

    apikey: str = Field(pattern=_ENV_REF)
    secretapikey: str = Field(pattern=_ENV_REF)


class ContactSettings(_Settings):
    """The registrant Namecheap puts on every order (also used as tech, admin and billing contact)."""

    first_name: str = Field(min_length=1, max_length=255)
    last_name: str = Field(min_length=1, max_length=255)
    organization: str | None = Field(default=None, max_length=255)
    address1: str = Field(min_length=1, max_length=255)
    city: str = Field(min_length=1, max_length=50)
    state_province: str = Field(min_length=1, max_length=50)
    postal_code: str = Field(min_length=1, max_length=50)
    #: two letters (ISO 3166-1)
    country: str = Field(pattern=r"^[A-Z]{2}$")
    #: +NNN.NNNNNNNNNN, as Namecheap wants it
    phone: str = Field(pattern=r"^\+\d{1,3}\.\d{4,14}$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class NamecheapSettings(RegistrarSettings):
    """Namecheap: the API user and key, the allow-listed IPv4 calls come from, the sandbox switch."""

    api_user: str = Field(min_length=1, max_length=20)
    api_key: str = Field(pattern=_ENV_REF)
    #: the user commands run as (default: api_user)
    username: str | None = Field(default=None, min_length=1, max_length=20)
    #: this server's public IPv4, as entered in Namecheap's API allow-list
    client_ip: IPv4Address
    #: use api.sandbox.namecheap.com (a separate account there); api_url overrides both
    sandbox: bool = False
    #: the registrant of new orders; without it nothing can be bought here (quotes and nameservers work)
    contact: ContactSettings | None = None


PROVIDER_SETTINGS: dict[str, type[BaseModel]] = {
    "porkbun": PorkbunSettings,
    "namecheap": NamecheapSettings,
}

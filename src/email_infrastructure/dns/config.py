"""Settings of `dns` providers, one model per provider type."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from email_infrastructure.core.names import normalise_domain

_ENV_REF = r"^env:[A-Za-z_][A-Za-z0-9_]*$"
# Used with fullmatch: `$` would also match before a final newline.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A mailbox local part that needs no quoting in a zone file; its dots are escaped in the SOA.
_LOCAL_PART = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def hostmaster_name(value: str) -> str:
    """Normalise a hostmaster: a label (of each zone), a domain name, or a mail address; else ValueError."""
    text = value.strip().rstrip(".").lower()
    if "@" in text:
        local, _, domain = text.partition("@")
        if len(local) > 64 or not _LOCAL_PART.fullmatch(local):
            raise ValueError(f"invalid hostmaster {value!r}: bad mailbox {local!r}")
        return f"{local}@{normalise_domain(domain)}"
    if "." in text:
        return normalise_domain(text)
    if not _LABEL.fullmatch(text):
        raise ValueError(f"invalid hostmaster {value!r}: a label, a domain name or a mail address")
    return text


def soa_mailbox(hostmaster: str, zone: str) -> str:
    """The SOA RNAME of a hostmaster (RFC 1035 §8: the local part's dots escaped), absolute."""
    name = hostmaster_name(hostmaster)
    if "@" in name:
        local, _, domain = name.partition("@")
        return local.replace(".", "\\.") + f".{domain}."
    return f"{name}." if "." in name else f"{name}.{zone}."


def zone_directory(value: str) -> str:
    """Check a zone directory: absolute, or relative and inside the data directory; else ValueError."""
    if not value.strip() or _CONTROL.search(value):
        raise ValueError("the directory must be a path without control characters")
    # Lexical on purpose: a symlink inside the data directory is the user's explicit choice.
    if not posixpath.isabs(value):
        normal = posixpath.normpath(value)
        if normal == ".." or normal.startswith("../"):
            raise ValueError(f"{value!r} leaves the data directory; give an absolute path to keep zone files elsewhere")
    return value


#: a host name, normalised (lowercase, punycode, no trailing dot): never text that could carry records
HostName = Annotated[str, AfterValidator(normalise_domain)]


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ZonefileSettings(_Settings):
    """One RFC 1035 zone file per domain in `directory` (relative to the data directory)."""

    directory: Annotated[str, AfterValidator(zone_directory)] = "zones"
    nameservers: list[HostName] = Field(
        default_factory=lambda: ["ns1.localhost", "ns2.localhost"], min_length=1, max_length=13
    )
    #: a label (hostmaster.<zone>), a domain name, or a mail address (dns.admin@example.com)
    hostmaster: Annotated[str, AfterValidator(hostmaster_name)] = "hostmaster"


class PowerDnsSettings(_Settings):
    """The PowerDNS Authoritative HTTP API."""

    api_url: str = Field(pattern=r"^https?://\S+$")
    api_key: str = Field(pattern=_ENV_REF)
    # Part of every API URL path: no slashes, no query.
    server_id: str = Field(default="localhost", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    nameservers: list[HostName] = Field(
        default_factory=lambda: ["ns1.localhost", "ns2.localhost"], min_length=1, max_length=13
    )
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

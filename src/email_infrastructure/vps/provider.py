"""The contract every VPS provider (Hetzner, DigitalOcean, Vultr) implements, and its value types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from email_infrastructure.core.errors import ProviderError

#: the label/tag key and value that mark a server as created by us
MANAGED_LABEL = "managed-by"
MANAGED_VALUE = "email-infra"
#: the label/tag key that carries the inventory's server name (found again after a crash by it)
SERVER_LABEL = "email-infra-server"

ReverseDns = Literal["api", "name", "none"]
Port25 = Literal["unknown", "blocked", "open"]


def ownership_labels(name: str) -> dict[str, str]:
    """The labels a server called `name` in the inventory is created with."""
    return {MANAGED_LABEL: MANAGED_VALUE, SERVER_LABEL: name}


@dataclass(frozen=True)
class ServerRequest:
    """What to create: the inventory's server, resolved to provider terms."""

    #: the inventory's server name (mx1): stored in labels/tags, never the provider's display name
    name: str
    #: the mail hostname (FQDN): the provider's server name where it allows one (DigitalOcean's PTR)
    hostname: str
    server_type: str
    location: str
    image: str
    user_data: str
    ssh_keys: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VpsServer:
    """A server as its provider reports it."""

    id: str
    #: the inventory's server name, read back from its labels/tags
    name: str
    #: the provider's own name for it (the hostname where possible)
    provider_name: str
    #: provider status, normalised: `creating`, `running`, `off`, `error`, `deleting`
    status: str
    ipv4: str | None
    #: one address (Hetzner hands out a /64: the server answers on its ::1)
    ipv6: str | None
    server_type: str
    location: str
    image: str
    #: reverse DNS per address, as the provider reports it
    ptr: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ServerType:
    """One entry of a provider's server-type (size, plan) catalogue."""

    name: str
    cores: int
    memory_mib: int
    disk_gb: int
    #: where it can be created; None when the provider does not say
    locations: frozenset[str] | None = None


@dataclass(frozen=True)
class Catalogue:
    """What a provider offers: server types, locations, images (by the names users write)."""

    server_types: Mapping[str, ServerType]
    locations: frozenset[str]
    images: frozenset[str]


@dataclass(frozen=True)
class Capabilities:
    """What a provider can and cannot do, as the plan explains it."""

    #: `api`: set by an API call; `name`: follows the server's name (DigitalOcean); `none`
    reverse_dns: ReverseDns
    #: the largest user data the provider accepts, in bytes (after any encoding it requires)
    user_data_limit: int
    #: outbound port 25 on a new account, as the provider documents it
    port25_default: Port25
    #: one line for the plan about port 25 (who to ask, or that it cannot be lifted)
    port25_note: str


class VpsActionError(ProviderError):
    """A provider action (create, reverse DNS…) ended in error or did not finish in time."""


class QuotaExceededError(ProviderError):
    """The account's limit (servers, cores, IPs) does not allow the request."""


@runtime_checkable
class VpsProvider(Protocol):
    """A VPS provider: one instance per inventory `providers.vps.<name>` entry."""

    #: the provider's type: `hetzner`, `digitalocean`, `vultr`
    type: str
    capabilities: Capabilities

    async def catalogue(self) -> Catalogue:
        """Server types, locations and images (cached by the caller)."""
        ...

    async def find(self, name: str) -> VpsServer | None:
        """Our server called `name` in the inventory, found by its labels/tags; None if absent."""
        ...

    async def list_ours(self) -> list[VpsServer]:
        """Every server carrying our managed label/tag (all pages)."""
        ...

    async def create(self, request: ServerRequest, *, timeout: float = 600.0) -> VpsServer:
        """Create the server and wait (polling) until it runs and has its addresses."""
        ...

    async def set_reverse_dns(self, server: VpsServer, ip: str, ptr: str, *, timeout: float = 120.0) -> None:
        """Point `ip`'s reverse DNS at `ptr` (waits for the provider's action to finish)."""
        ...

    async def delete(self, server: VpsServer, *, timeout: float = 300.0) -> None:
        """Delete the server (only servers carrying our managed label/tag)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class NotOursError(ProviderError):
    """The server does not carry our managed label/tag: we never change or delete it."""

"""The DnsProvider seam: a provider only reads and writes records; planning lives elsewhere."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from email_infrastructure.core.component import Health, HealthStatus
from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.dns.plan import Change, ExtraChange
from email_infrastructure.dns.records import Record

if TYPE_CHECKING:
    from email_infrastructure.dns.desired import DesiredZone

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class ProviderContext:
    """What every provider may use besides its own settings."""

    data_dir: Path
    #: in-process rate limiters by budget, shared by the providers built with the same registry (an
    #: App's: two providers with one API token share its budget); None: each provider has its own
    limiters: dict[str, Any] | None = field(default=None, compare=False)


@contextmanager
def vendor_answers(provider: str) -> Iterator[None]:
    """Turn a vendor answer of an unexpected shape (a missing field, a wrong type) into a
    ProviderError, so that one odd response fails its zone instead of the whole run."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ProviderError(f"unexpected answer: {type(exc).__name__}: {exc}", provider=provider) from None


class DnsProvider(ABC, Generic[S]):
    """Reads the records of a zone and applies changes to it."""

    type: ClassVar[str]
    settings_model: ClassVar[builtins.type[BaseModel]]

    def __init__(self, name: str, settings: S, context: ProviderContext) -> None:
        self.name = name
        self.settings = settings
        self.context = context

    @abstractmethod
    async def zone_exists(self, zone: str) -> bool:
        """True when the provider serves `zone`."""

    @abstractmethod
    async def list_records(self, zone: str) -> list[Record]:
        """Every record of the zone except the provider-managed SOA and apex NS."""

    @abstractmethod
    async def apply_changes(self, zone: str, changes: list[Change]) -> None:
        """Apply deletes, creates and updates, creating the zone when needed and allowed."""

    async def prefetch(self, zones: list[str]) -> None:
        """Warm caches before many zones are read (e.g. resolve zone ids in bulk)."""

    async def extra_changes(self, desired: DesiredZone, owned: set[tuple[str, str]]) -> list[ExtraChange]:
        """Changes beside the records that this provider makes itself (a redirect rule); `owned`
        holds the zone's ownership entries, so only what we made is ever touched."""
        return []

    async def apply_extra_changes(self, zone: str, changes: list[ExtraChange]) -> None:
        """Make the extra changes and read them back (VerificationError when they did not hold)."""
        if changes:
            raise NotImplementedError(f"{self.type} plans no extra changes")

    def prepare(self, record: Record) -> Record:
        """Adapt a desired record to what this provider stores (e.g. its TTL limits)."""
        return record

    def notes(self, desired: DesiredZone) -> list[str]:
        """Notes for a zone's plan; by default, what the web server must do for a redirect."""
        if not desired.redirect:
            return []
        return [
            f"redirect: {desired.zone} and www.{desired.zone} point at {desired.redirect_host}, whose web "
            f"server must answer with a redirect to {desired.redirect}"
        ]

    async def nameservers(self, zone: str) -> list[str]:
        """The nameservers the parent should delegate `zone` to."""
        return list(getattr(self.settings, "nameservers", []))

    async def health(self) -> Health:
        """Reachable and authorised?"""
        try:
            await self.zone_exists("health-check.invalid")
        except EmailInfraError as exc:
            return Health(HealthStatus.DOWN, str(exc))
        return Health(HealthStatus.OK, self.type)

    async def close(self) -> None:
        """Release connections."""

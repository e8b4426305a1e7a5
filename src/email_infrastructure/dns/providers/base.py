"""The DnsProvider seam: a provider only reads and writes records; planning lives elsewhere."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from email_infrastructure.core.component import Health, HealthStatus
from email_infrastructure.core.errors import EmailInfraError, ProviderError
from email_infrastructure.dns.plan import Change
from email_infrastructure.dns.records import Record

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class ProviderContext:
    """What every provider may use besides its own settings."""

    data_dir: Path


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

    #: True when the provider itself can redirect HTTP for a zone (a redirect rule)
    supports_redirect: ClassVar[bool] = False

    async def redirect_target(self, zone: str) -> str | None:
        """The URL our redirect rule sends apex and www to, or None (providers with a rule engine)."""
        return None

    async def set_redirect(self, zone: str, target: str | None) -> None:
        """Create, change or (None) remove our redirect rule."""
        raise NotImplementedError(f"{self.type} cannot redirect by itself")

    def prepare(self, record: Record) -> Record:
        """Adapt a desired record to what this provider stores (e.g. its TTL limits)."""
        return record

    def notes(self, zone: str) -> list[str]:
        """Provider-specific notes for a zone's plan."""
        return []

    async def health(self) -> Health:
        """Reachable and authorised?"""
        try:
            await self.zone_exists("health-check.invalid")
        except EmailInfraError as exc:
            return Health(HealthStatus.DOWN, str(exc))
        return Health(HealthStatus.OK, self.type)

    async def close(self) -> None:
        """Release connections."""

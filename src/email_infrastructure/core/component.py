"""The lifecycle every component follows: initialize, health_check, cleanup."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar

from email_infrastructure.core.errors import SecretReferenceError
from email_infrastructure.core.events import EventBus
from email_infrastructure.core.inventory import Inventory, ProviderSpec
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.core.inventory.schema import SECRET_REF
from email_infrastructure.core.settings import Settings


class HealthStatus(StrEnum):
    """Health of a component."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"
    UNCONFIGURED = "unconfigured"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Health:
    """A component's health and why."""

    status: HealthStatus
    detail: str = ""
    checks: dict[str, str] = field(default_factory=dict)


@dataclass
class ComponentContext:
    """What a component is built from."""

    settings: Settings
    bus: EventBus
    inventory: Inventory | None = None


class BaseComponent(ABC):
    """A component of the system (dns, mailcow, vps, monitoring)."""

    name: ClassVar[str]

    def __init__(self, context: ComponentContext) -> None:
        self.context = context
        self.initialized = False

    async def initialize(self) -> None:
        """Prepare resources (clients, directories); idempotent."""
        self.initialized = True

    @abstractmethod
    async def health_check(self) -> Health:
        """Report health without changing anything."""

    async def cleanup(self) -> None:
        """Release resources; idempotent."""
        self.initialized = False


def missing_credentials(providers: dict[str, ProviderSpec]) -> dict[str, str]:
    """Providers whose `env:` references cannot be resolved, with the reason."""
    problems: dict[str, str] = {}
    for name, spec in providers.items():
        for value in spec.settings.values():
            if isinstance(value, str) and SECRET_REF.match(value):
                try:
                    resolve_secret(value)
                except SecretReferenceError as exc:
                    problems[name] = str(exc)
    return problems


class CredentialsOnlyComponent(BaseComponent):
    """A component whose vendor clients are not built yet: reports configuration only."""

    kind: ClassVar[str]

    async def health_check(self) -> Health:
        """Unconfigured without providers; down when a credential is missing; else unknown."""
        inventory = self.context.inventory
        providers: dict[str, ProviderSpec] = getattr(inventory.providers, self.kind) if inventory else {}
        if not providers:
            return Health(HealthStatus.UNCONFIGURED, f"no {self.kind} provider in the inventory")
        missing = missing_credentials(providers)
        if missing:
            return Health(HealthStatus.DOWN, "; ".join(f"{n}: {r}" for n, r in missing.items()), missing)
        return Health(
            HealthStatus.UNKNOWN,
            f"{len(providers)} provider(s) with credentials; live API check not implemented yet",
        )

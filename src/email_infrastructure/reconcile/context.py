"""What the steps need from the application layer, as protocols (reconcile imports no service)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from email_infrastructure.core.events import Event, P, Topic
from email_infrastructure.storage.repositories import DnsOwnership, EventIntents, MailOwnership, SecretStore
from email_infrastructure.storage.sequencer_repositories import SequencerAccounts, StoredAccount
from email_infrastructure.storage.vps_repositories import VpsFacts


class StepUnitOfWork(Protocol):
    """One transaction with an event outbox (services.uow.UnitOfWork)."""

    @property
    def ownership(self) -> DnsOwnership:
        """DNS RRsets we own."""

    @property
    def mail_ownership(self) -> MailOwnership:
        """Mail domains we created."""

    @property
    def vps(self) -> VpsFacts:
        """Servers we created at VPS providers."""

    @property
    def sequencer_accounts(self) -> SequencerAccounts:
        """Our mailboxes' accounts at sequencers."""

    def secrets(self, *, create_key: bool = True) -> SecretStore:
        """Encrypted secrets."""

    def emit(self, topic: Topic[P], payload: P, source: str = "") -> Event:
        """Queue an event, logged with the transaction."""

    def intend(self, scope: str, topic: Topic[P], payload: P, source: str = "") -> Event:
        """Record an event before the change it describes."""

    async def confirm(self, events: list[Event]) -> None:
        """Log intents whose change is done."""

    @property
    def intents(self) -> EventIntents:
        """Pending intents."""

    async def commit(self) -> None:
        """Commit and publish."""

    async def __aenter__(self) -> StepUnitOfWork: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class ReconcileContext(Protocol):
    """Reads that a plan may make (and that write nothing), and units of work for apply."""

    @property
    def data_dir(self) -> Path:
        """Where file-based providers keep their data."""

    @property
    def rate_limiters(self) -> dict[str, Any]:
        """The registry the providers' in-process rate limiters are shared in (one budget per token)."""

    async def owned(self, provider: str, zone: str) -> set[tuple[str, str]]:
        """The RRsets we own in a zone (empty when nothing is stored yet)."""

    async def owned_zones(self) -> set[tuple[str, str]]:
        """(provider, zone) wherever we own something."""

    async def owned_elsewhere(self, zone: str) -> set[tuple[str, str]]:
        """The RRsets another workspace owns in a zone (never deleted from here, not even by a purge)."""

    async def zone_held_elsewhere(self, zone: str) -> bool:
        """Whether the zone is another workspace's domain now (nothing in it is deleted from here)."""

    async def mail_held_elsewhere(self, domains: list[str]) -> set[str]:
        """Of these domains, those another workspace created a mail domain for or now desires."""

    async def owned_mail_domains(self) -> set[tuple[str, str]]:
        """(mail backend, domain) of every mail domain we created."""

    async def secrets(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Stored secrets by (owner, name); absent ones left out; creates no key."""

    async def vps_servers(self) -> dict[str, tuple[str, str, str | None]]:
        """Servers we created: name → (VPS provider, port25 state, last error)."""

    async def sequencer_accounts(self, domain: str) -> list[StoredAccount]:
        """A domain's stored sequencer accounts."""

    async def sequencer_pairs(self) -> set[tuple[str, str]]:
        """(domain, sequencer) wherever a sequencer account is stored."""

    async def intents(self, scope: str) -> list[Event]:
        """Events of an interrupted apply whose change may or may not have been made."""

    def uow(self) -> StepUnitOfWork:
        """A unit of work for apply."""

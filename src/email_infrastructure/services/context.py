"""The reconcile context over an App: reads that create nothing, units of work for apply."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.events import Event
from email_infrastructure.services.app import App
from email_infrastructure.services.uow import UnitOfWork
from email_infrastructure.storage.repositories import secret_count
from email_infrastructure.storage.sequencer_repositories import StoredAccount


class AppContext:
    """What reconcile steps read and write, through one App."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def data_dir(self) -> Path:
        """Where file-based providers keep their data."""
        return self.app.settings.data_dir

    @property
    def rate_limiters(self) -> dict[str, Any]:
        """The App's registry of in-process rate limiters (pass it to `build_provider(limiters=…)`)."""
        return self.app.rate_limiters

    async def owned(self, provider: str, zone: str) -> set[tuple[str, str]]:
        """RRsets we own in a zone; nothing before anything was stored."""
        if not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.ownership.owned(provider, zone)

    async def owned_zones(self) -> set[tuple[str, str]]:
        """Every (provider, zone) where we own something."""
        if not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.ownership.zones()

    async def owned_elsewhere(self, zone: str) -> set[tuple[str, str]]:
        """RRsets other workspaces own in a zone (a shared server or zone-file directory)."""
        if not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.ownership.owned_elsewhere(zone)

    async def zone_held_elsewhere(self, zone: str) -> bool:
        """Whether another workspace's desired state holds the zone's domain."""
        if not self.app.has_state():
            return False
        async with self.app.uow() as uow:
            return await uow.ownership.zone_held_elsewhere(zone)

    async def mail_held_elsewhere(self, domains: list[str]) -> set[str]:
        """Domains another workspace created a mail domain for, or holds in its desired state."""
        if not domains or not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.mail_ownership.held_elsewhere(domains)

    async def owned_mail_domains(self) -> set[tuple[str, str]]:
        """Every (mail backend, domain) we created; nothing before anything was stored."""
        if not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.mail_ownership.domains()

    async def secrets(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Stored secrets; without a vault key only an empty store is acceptable."""
        if not keys or not self.app.has_state():
            return {}
        async with self.app.uow() as uow:
            if not self.app.has_vault_key():
                stored = await secret_count(uow.session)
                if stored:
                    raise ConfigError(
                        f"{stored} secrets are stored but there is no vault key "
                        "(set EMAIL_INFRA_SECRET_KEY, or restore the data dir's secret.key)"
                    )
                return {}
            return await uow.secrets(create_key=False).get_many(keys)

    async def vps_servers(self) -> dict[str, tuple[str, str, str | None]]:
        """Servers we created: name → (VPS provider, port25 state, last error)."""
        if not self.app.has_state():
            return {}
        async with self.app.uow() as uow:
            return {r.name: (r.provider, r.port25, r.last_error) for r in await uow.vps.all()}

    async def sequencer_accounts(self, domain: str) -> list[StoredAccount]:
        """A domain's stored sequencer accounts; none before anything was stored."""
        if not self.app.has_state():
            return []
        async with self.app.uow() as uow:
            return [StoredAccount.of(r) for r in await uow.sequencer_accounts.of_domain(domain)]

    async def sequencer_pairs(self) -> set[tuple[str, str]]:
        """(domain, sequencer) wherever an account is stored."""
        if not self.app.has_state():
            return set()
        async with self.app.uow() as uow:
            return await uow.sequencer_accounts.pairs()

    async def intents(self, scope: str) -> list[Event]:
        """Intents an interrupted apply left in a scope."""
        if not self.app.has_state():
            return []
        async with self.app.uow() as uow:
            return await uow.intents.pending(scope)

    def uow(self) -> UnitOfWork:
        """A unit of work for a step's writes."""
        return self.app.uow()

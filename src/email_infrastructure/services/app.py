"""The App: what a process needs to run services, built once (settings, database, bus, vault)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from email_infrastructure.core.errors import StorageError
from email_infrastructure.core.events import EventBus
from email_infrastructure.core.settings import Settings, load_settings

if TYPE_CHECKING:
    from email_infrastructure.core.vault import Vault
    from email_infrastructure.services.scope import Scope
    from email_infrastructure.services.uow import UnitOfWork
    from email_infrastructure.services.view_cache import DomainViewCache
    from email_infrastructure.storage.db import Database

_log = logging.getLogger(__name__)


@dataclass
class App:
    """Settings, database, event bus and vault of one process; services take it first.

    The database and the vault are opened on first use: a read-only command (`audit -f`,
    `plan -f` on a fresh data dir) never creates them.
    """

    settings: Settings
    bus: EventBus = field(default_factory=EventBus)
    _db: Database | None = None
    _vault: Vault | None = None
    _sqlite: tuple[Path | None] | None = None
    #: in-process rate limiters of this App's providers by budget (two providers with one token share one)
    rate_limiters: dict[str, Any] = field(default_factory=dict)
    _domain_views: DomainViewCache[Any] | None = None
    #: workspace names by id, as units of work resolved them (services/uow.py; renames update it)
    workspace_names: dict[int, str] = field(default_factory=dict)

    @property
    def state_location(self) -> str:
        """Where desired state lives, for users: the SQLite file or the PostgreSQL URL (no password)."""
        from sqlalchemy.engine import make_url

        url = make_url(self.settings.database_url_effective)
        if url.get_backend_name() == "sqlite":
            return f"sqlite {url.database}"
        return f"postgresql {url.render_as_string(hide_password=True).split('://', 1)[1]}"

    def has_state(self) -> bool:
        """False when the embedded database has not been created yet (nothing stored)."""
        if self._db is not None:
            return True
        if self._sqlite is None:
            from email_infrastructure.storage.db import sqlite_file

            # Computed once: a plan asks for every zone, and the URL's path does not change.
            self._sqlite = (sqlite_file(self.settings),)
        path = self._sqlite[0]
        return path is None or path.exists()

    async def database(self) -> Database:
        """The database, opened (and on SQLite migrated) on first use."""
        if self._db is None:
            from email_infrastructure.storage.db import open_database

            self._db = await open_database(self.settings)
        return self._db

    @property
    def domain_views(self) -> DomainViewCache[Any]:
        """This App's cache of computed domain views (services/domains.py): per App, bounded, invalidated by writes."""
        if self._domain_views is None:
            from email_infrastructure.services.view_cache import DomainViewCache

            self._domain_views = DomainViewCache()
        return self._domain_views

    def vault(self, *, create: bool = True) -> Vault:
        """The secrets vault; its key file is created on first use unless `create` is False."""
        if self._vault is None:
            from email_infrastructure.core.vault import Vault

            self._vault = Vault.from_settings(self.settings, create=create)
        return self._vault

    def reload_vault(self) -> None:
        """Forget the loaded vault keys (after a rotation), so the next use reads them anew."""
        self._vault = None

    def refresh_vault(self) -> Vault:
        """Read the vault keys anew (another process may have rotated them) and keep them."""
        from email_infrastructure.core.vault import Vault

        self._vault = Vault.from_settings(self.settings, create=False)
        return self._vault

    def has_vault_key(self) -> bool:
        """True when a vault key is configured or its key file exists."""
        from email_infrastructure.core.vault import key_file_path

        return self._vault is not None or self.settings.secret_key is not None or key_file_path(self.settings).exists()

    def uow(self, scope: Scope | None = None) -> UnitOfWork:
        """A new unit of work (one transaction) on this App's database, in `scope` or the chosen workspace."""
        from email_infrastructure.services.uow import UnitOfWork

        return UnitOfWork(self, scope)

    async def close(self) -> None:
        """Let queued event handlers finish, then release the database."""
        await self.bus.close()
        if self._db is not None:
            await self._db.close()
            self._db = None


@contextlib.asynccontextmanager
async def open_app(settings: Settings | None = None) -> AsyncIterator[App]:
    """An App for the duration of a command, request or task."""
    app = App(settings or load_settings())
    try:
        yield app
    finally:
        await app.close()


async def require_state(app: App) -> Database:
    """The database, refusing clearly when a read needs stored state that does not exist."""
    if not app.has_state():
        raise StorageError(f"no stored state at {app.state_location} yet (run `email-infra apply -f FILE` first)")
    return await app.database()


__all__ = ["App", "open_app", "require_state"]

"""The unit of work: one transaction, repositories bound to it, and an event outbox.

Events emitted through a unit of work are written to the audit log in the same transaction as
the change they describe, and published on the bus only after that transaction commits: an event
is never logged for a change that rolled back, nor lost for one that committed.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING

from email_infrastructure.core.errors import NotFoundError
from email_infrastructure.core.events import Event, P, Topic
from email_infrastructure.services.scope import Scope, current
from email_infrastructure.storage.api_repositories import read_only
from email_infrastructure.storage.repositories import (
    CheckHistory,
    DesiredState,
    DnsOwnership,
    EventIntents,
    EventLog,
    MailOwnership,
    PlanHistory,
    SecretStore,
)
from email_infrastructure.storage.scoping import bind
from email_infrastructure.storage.sequencer_repositories import SequencerAccounts
from email_infrastructure.storage.vps_repositories import VpsFacts
from email_infrastructure.storage.workspace_repositories import Workspaces

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from email_infrastructure.services.app import App
    from email_infrastructure.storage.db import Database


#: the id a workspace that does not exist yet reads under: ids are positive, so every read is empty
_NO_WORKSPACE = -1


async def resolve(app: App, scope: Scope, db: Database | None = None) -> tuple[int | None, str | None]:
    """A scope's workspace id and name (None, None: every workspace); cached per App, since ids never
    change and renames are rare. NotFoundError for a workspace that does not exist (unless `missing_ok`)."""
    db = db or await app.database()
    if scope.every:
        return None, None
    known = app.workspace_names
    if scope.id is not None and scope.id in known:
        return scope.id, known[scope.id]
    cached = next((i for i, name in known.items() if name == scope.name), None)
    if cached is not None:
        return cached, scope.name
    # its own short read: the unit of work's transaction may still be marked read-only by its first use
    async with db.sessions() as session:
        await read_only(session)
        workspaces = Workspaces(session)
        row = await (workspaces.by_id(scope.id) if scope.id is not None else workspaces.by_name(str(scope.name)))
    if row is None and scope.missing_ok:
        return _NO_WORKSPACE, scope.name
    if row is None:
        label = scope.name or f"#{scope.id}"
        raise NotFoundError(f"workspace {label} does not exist (`email-infra workspace create {label}` makes it)")
    known[row.id] = row.name
    return row.id, row.name


class UnitOfWork:
    """`async with app.uow() as uow: …; await uow.commit()` — rolled back unless committed.

    It acts in one workspace (services/scope.py: the face's choice, else the settings'): every
    read, update and delete is filtered to that workspace's rows and new rows are stamped with it
    (storage/scoping.py). The scope of every workspace reads across them and writes none of theirs.
    """

    def __init__(self, app: App, scope: Scope | None = None) -> None:
        self.app = app
        self.scope = scope or current(app.settings.workspace)
        self._session: AsyncSession | None = None
        self._outbox: list[Event] = []
        #: event id → the workspace id of an event logged in another workspace than this unit of work's
        self._placed: dict[str, int] = {}
        #: the workspace's id and name once entered (None for every workspace)
        self.workspace_id: int | None = None
        self.workspace: str | None = None

    async def __aenter__(self) -> UnitOfWork:
        db = await self.app.database()
        self.workspace_id, self.workspace = await resolve(self.app, self.scope, db)
        self._session = db.sessions()
        bind(self._session, self.workspace_id)
        await self._session.begin()
        return self

    @property
    def workspaces(self) -> Workspaces:
        """The workspaces themselves (across workspaces, on purpose)."""
        return Workspaces(self.session)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._session is not None
        try:
            if self._session.in_transaction():
                # Detach first: a rollback would expire what was read, and readers keep using it.
                self._session.expunge_all()
                await self._session.rollback()
        finally:
            await self._session.close()
            self._outbox.clear()
            self._placed.clear()

    @property
    def session(self) -> AsyncSession:
        """The session of this unit of work."""
        assert self._session is not None, "use the unit of work inside `async with`"
        return self._session

    @property
    def desired(self) -> DesiredState:
        """Desired state rows."""
        return DesiredState(self.session)

    @property
    def ownership(self) -> DnsOwnership:
        """DNS RRsets we own."""
        return DnsOwnership(self.session)

    @property
    def mail_ownership(self) -> MailOwnership:
        """Mail domains we created."""
        return MailOwnership(self.session)

    @property
    def plans(self) -> PlanHistory:
        """Applied plans."""
        return PlanHistory(self.session)

    @property
    def checks(self) -> CheckHistory:
        """Check history and states."""
        return CheckHistory(self.session)

    @property
    def vps(self) -> VpsFacts:
        """Servers we created at VPS providers."""
        return VpsFacts(self.session)

    @property
    def sequencer_accounts(self) -> SequencerAccounts:
        """Our mailboxes' accounts at sequencers."""
        return SequencerAccounts(self.session)

    @property
    def events(self) -> EventLog:
        """The audit log."""
        return EventLog(self.session)

    def secrets(self, *, create_key: bool = True) -> SecretStore:
        """Encrypted secrets (the vault key file is created unless `create_key` is False)."""
        return SecretStore(self.session, self.app.vault(create=create_key), reload=self.app.refresh_vault)

    @property
    def intents(self) -> EventIntents:
        """Events written before the provider call they describe."""
        return EventIntents(self.session)

    def intend(self, scope: str, topic: Topic[P], payload: P, source: str = "") -> Event:
        """Record an event before the change it describes is made (confirm it after read-back)."""
        event = Event.of(topic, payload, source, self.workspace)
        self.intents.add(scope, [event])
        return event

    async def confirm(self, events: list[Event]) -> None:
        """Intents whose change is done: into the audit log with this transaction, then published."""
        await self.intents.remove(e.id for e in events)
        self._outbox.extend(events)

    def emit(self, topic: Topic[P], payload: P, source: str = "", *, workspace: tuple[int, str] | None = None) -> Event:
        """Queue an event: logged with this transaction, published after it commits.

        `workspace` (id, name) logs it in that workspace instead of this unit of work's: a change made
        where install-wide rows live that concerns one workspace (an API key of it) is that workspace's
        to see, and no other's.
        """
        event = Event.of(topic, payload, source, workspace[1] if workspace else self.workspace)
        if workspace is not None:
            self._placed[event.id] = workspace[0]
        self._outbox.append(event)
        return event

    async def commit(self) -> None:
        """Write the outbox into the audit log, commit, then publish the events."""
        if self.workspace_id == _NO_WORKSPACE:
            raise NotFoundError(f"workspace {self.workspace} does not exist (`email-infra workspace create` makes it)")
        events, self._outbox = self._outbox, []
        self.events.add(events, self._placed)
        await self.session.commit()
        for event in events:
            await self.app.bus.publish(event)

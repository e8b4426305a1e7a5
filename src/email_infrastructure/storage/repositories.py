"""Repositories: the only code that reads and writes the tables; each is bound to one session.

A repository never commits: the unit of work that owns the session does (services/uow.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, and_, cast, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from email_infrastructure.core.errors import VaultError
from email_infrastructure.core.events import Event
from email_infrastructure.core.vault import Vault
from email_infrastructure.storage.models import (
    AppliedPlan,
    CheckResultRecord,
    CheckState,
    DesiredSetting,
    DnsOwnedRecord,
    Domain,
    EventIntent,
    EventRecord,
    Mailbox,
    MailOwnedDomain,
    Provider,
    SecretRecord,
    Server,
    VaultState,
    utcnow,
)
from email_infrastructure.storage.overview_rows import refresh_checked
from email_infrastructure.storage.scoping import across_workspaces, bound_workspace, rows_for, writing_workspace


def _columns(event: Event) -> dict[str, Any]:
    """The columns an event is stored in (the audit log's and the intents' alike)."""
    return {
        "id": event.id,
        "topic": event.topic,
        "source": event.source,
        "correlation_id": event.correlation_id,
        "payload": dict(event.payload),
        "occurred_at": event.occurred_at,
    }


class EventLog:
    """The `events` table: the audit log."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, events: Iterable[Event], placed: Mapping[str, int] | None = None) -> None:
        """Append events (written when the unit of work commits); those in `placed` (event id → workspace id)
        go to that workspace's log, the others to the session's."""
        where = placed or {}
        self._session.add_all(
            EventRecord(**_columns(e), **({"workspace_id": where[e.id]} if e.id in where else {})) for e in events
        )

    async def recent(
        self, limit: int = 100, topic_prefix: str = "", correlation_id: str | None = None
    ) -> Sequence[EventRecord]:
        """Newest events first."""
        query = select(EventRecord).order_by(EventRecord.occurred_at.desc()).limit(limit)
        if topic_prefix:
            query = query.where(EventRecord.topic.startswith(topic_prefix))
        if correlation_id:
            query = query.where(EventRecord.correlation_id == correlation_id)
        return (await self._session.scalars(query)).all()


async def secret_count(session: AsyncSession) -> int:
    """How many secrets are stored (no key needed to count them)."""
    return int(await session.scalar(select(func.count()).select_from(SecretRecord)) or 0)


class EventIntents:
    """Events written before the provider call they describe (see EventIntent)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, scope: str, events: Iterable[Event]) -> None:
        """Stage intents (written when the unit of work commits)."""
        self._session.add_all(EventIntent(scope=scope, **_columns(e)) for e in events)

    async def pending(self, scope: str) -> list[Event]:
        """The intents of a scope, oldest first, as the events they would become."""
        query = select(EventIntent).where(EventIntent.scope == scope).order_by(EventIntent.occurred_at)
        return [
            Event(
                topic=row.topic,
                payload=row.payload,
                source=row.source,
                id=row.id,
                occurred_at=row.occurred_at,
                correlation_id=row.correlation_id,
            )
            for row in (await self._session.scalars(query)).all()
        ]

    async def remove(self, ids: Iterable[str]) -> None:
        """Forget intents (confirmed into the audit log, or found not carried out)."""
        wanted = list(ids)
        if wanted:
            await self._session.execute(delete(EventIntent).where(EventIntent.id.in_(wanted)))


def secret_label(owner: str, name: str) -> str:
    """How a stored secret is named to people (`vault check`, `vault forget`): `OWNER/NAME`."""
    return f"{owner}/{name}"


#: the one row of `vault_state`
_VAULT_ROW = 1


class SecretStore:
    """Generated secrets, encrypted at rest by the vault.

    Each secret is written under the key that is *active in the database* (`vault_state`), never
    simply under this process's key: a process whose key was rotated away by another one reloads
    its keys (`reload`) and, still without the active key, refuses to write (StaleKeyError). The
    writer's read of the active key shares the row lock that a rotation takes exclusively, so no
    secret is written under a key a concurrent rotation is retiring.
    """

    def __init__(self, session: AsyncSession, vault: Vault, reload: Callable[[], Vault] | None = None) -> None:
        self._session = session
        self._vault = vault
        self._reload = reload

    def _reloaded(self) -> bool:
        """Read the keys anew (another process may have rotated them); False when nothing changed."""
        if self._reload is None:
            return False
        fresh = self._reload()
        changed = fresh.ids != self._vault.ids
        self._vault = fresh
        return changed

    async def active_key_id(self, *, for_rotation: bool = False) -> str | None:
        """The id of the active key, read under a shared lock (exclusive `for_rotation`)."""
        query = select(VaultState.key_id).where(VaultState.id == _VAULT_ROW)
        locked = query.with_for_update(read=not for_rotation)
        if not for_rotation and await self._session.scalar(query) is None:
            # no key recorded yet: the first writer's key becomes the active one (a concurrent first
            # writer waits on this row and then finds it set)
            done = await self._session.execute(
                update(VaultState)
                .where(VaultState.id == _VAULT_ROW, VaultState.key_id.is_(None))
                .values(key_id=self._vault.primary_id)
            )
            if not getattr(done, "rowcount", 0) and await self._session.scalar(locked) is None:
                self._session.add(VaultState(id=_VAULT_ROW, key_id=self._vault.primary_id))
                await self._session.flush()
        return await self._session.scalar(locked)

    async def _writing_key(self) -> str:
        active = await self.active_key_id()
        assert active is not None
        if active not in self._vault.ids:
            self._reloaded()
        return active

    async def put(self, owner: str, name: str, value: str) -> None:
        """Create or replace a secret, under the active key."""
        key = await self._writing_key()
        ciphertext = self._vault.encrypt(value, key)  # StaleKeyError without the active key
        row = await self._session.scalar(
            select(SecretRecord).where(SecretRecord.owner == owner, SecretRecord.name == name)
        )
        if row is None:
            self._session.add(SecretRecord(owner=owner, name=name, ciphertext=ciphertext, key_id=key))
        else:
            row.ciphertext, row.key_id = ciphertext, key

    def _open(self, row: SecretRecord) -> str:
        """Decrypt a row, reading the keys anew once when it was written under a key we lack."""
        if row.key_id is not None and row.key_id not in self._vault.ids:
            self._reloaded()
        try:
            return self._vault.decrypt(row.ciphertext)
        except VaultError:
            if row.key_id is None and self._reloaded():
                return self._open(row)
            label = secret_label(row.owner, row.name)
            if row.key_id is not None and row.key_id not in self._vault.ids:
                raise VaultError(
                    f"secret {label} was written under vault key {row.key_id}, which this process does not hold "
                    "(was the key rotated? give this process the current key)"
                ) from None
            raise VaultError(
                f"secret {label} cannot be decrypted with the vault's keys: `email-infra vault check` lists such "
                f"secrets, `email-infra vault forget {label}` deletes it"
            ) from None

    async def get_or_create(self, owner: str, name: str, factory: Callable[[], str]) -> str:
        """The stored secret, or `factory()` stored under the active key; a concurrent writer's value wins.

        Two processes may both find the secret absent: the second insert fails on the unique
        (owner, name) and is rolled back to a savepoint, and the first writer's value (committed by
        then: PostgreSQL's insert waits for it, SQLite's writers run one at a time) is read back, so
        every caller gets the same value and one row exists.
        """
        found = await self.get(owner, name)
        if found is not None:
            return found
        value = factory()
        key = await self._writing_key()
        ciphertext = self._vault.encrypt(value, key)
        try:
            async with self._session.begin_nested():
                self._session.add(SecretRecord(owner=owner, name=name, ciphertext=ciphertext, key_id=key))
        except IntegrityError:
            found = await self.get(owner, name)
            if found is None:  # the other writer rolled back: ours is the one to keep
                return await self.get_or_create(owner, name, factory)
            return found
        return value

    async def get(self, owner: str, name: str) -> str | None:
        """The decrypted secret, or None."""
        row = await self._session.scalar(
            select(SecretRecord).where(SecretRecord.owner == owner, SecretRecord.name == name)
        )
        return None if row is None else self._open(row)

    async def delete(self, owner: str, name: str) -> bool:
        """Forget a secret; False when it was absent."""
        done = await self._session.execute(
            delete(SecretRecord).where(SecretRecord.owner == owner, SecretRecord.name == name)
        )
        return bool(getattr(done, "rowcount", 0))

    async def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Decrypted secrets for many (owner, name) pairs in few queries; absent ones are left out."""
        wanted = set(keys)
        owners = sorted({owner for owner, _ in wanted})
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(owners), 500):
            rows = await self._session.scalars(
                select(SecretRecord).where(SecretRecord.owner.in_(owners[start : start + 500]))
            )
            for row in rows:
                if (row.owner, row.name) in wanted:
                    found[(row.owner, row.name)] = self._open(row)
        return found

    async def undecryptable(self) -> tuple[int, list[str]]:
        """(how many secrets are stored, the names of those no key of the vault opens); no value leaves."""
        self._reloaded()
        rows = (await self._session.scalars(select(SecretRecord).order_by(SecretRecord.owner, SecretRecord.name))).all()
        bad: list[str] = []
        for row in rows:
            try:
                self._vault.decrypt(row.ciphertext)
            except VaultError:
                bad.append(secret_label(row.owner, row.name))
        return len(rows), bad

    async def reencrypt_all(self, vault: Vault) -> int:
        """Re-encrypt every secret under `vault`'s primary key and make it the active key.

        Takes the vault row exclusively first (writers wait, then write under the new key). Refuses,
        changing nothing, when a secret cannot be decrypted, naming every such secret.
        """
        await self.active_key_id(for_rotation=True)
        rows = (await self._session.scalars(select(SecretRecord).order_by(SecretRecord.owner, SecretRecord.name))).all()
        bad: list[str] = []
        for row in rows:
            try:
                row.ciphertext, row.key_id = vault.rotate(row.ciphertext), vault.primary_id
            except VaultError:
                bad.append(secret_label(row.owner, row.name))
        if bad:
            raise VaultError(
                f"{len(bad)} stored secret(s) cannot be decrypted with the vault's keys, so nothing was re-encrypted: "
                f"{', '.join(bad)}. `email-infra vault forget NAME` deletes one (whatever it protected is made "
                "again or must be restored); `email-infra vault check` lists them"
            )
        state = await self._session.get(VaultState, _VAULT_ROW)
        if state is None:
            self._session.add(VaultState(id=_VAULT_ROW, key_id=vault.primary_id, rotated_at=utcnow()))
        else:
            state.key_id, state.rotated_at = vault.primary_id, utcnow()
        self._vault = vault
        return len(rows)


@dataclass
class DesiredRows:
    """Every row of the desired state, as stored."""

    providers: list[Provider]
    servers: list[Server]
    settings: dict[str, DesiredSetting]
    domains: list[Domain]


class DesiredState:
    """Providers, servers, fleet settings, domains and mailboxes, each row with its owner."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def load(self, only: Sequence[str] | None = None) -> DesiredRows:
        """Every row (domains with their mailboxes); with `only`, just those domains (a worker's task)."""
        s = self._session
        providers = (await s.scalars(select(Provider).order_by(Provider.kind, Provider.name))).all()
        servers = (await s.scalars(select(Server).order_by(Server.name))).all()
        settings = {row.key: row for row in (await s.scalars(select(DesiredSetting))).all()}
        query = select(Domain).options(selectinload(Domain.mailboxes)).order_by(Domain.name)
        if only is not None:
            query = query.where(Domain.name.in_(list(only)))
        domains = list((await s.scalars(query)).all())
        return DesiredRows(list(providers), list(servers), settings, domains)

    async def reporters(self, names: Sequence[str]) -> list[Domain]:
        """The other domains whose DMARC reports go to one of `names`: their `<d>._report._dmarc.<name>`
        authorisation records (RFC 7489 §7.1) live in those zones, so a plan or a view of `names` alone
        needs them (without them, applying `names` alone would delete those records). Read-only: rows
        written back go through `load`, which never adds them."""
        if not names:
            return []
        # every stored spec carries its explicit `dmarc` (defaults made explicit at import): a LIKE over
        # its JSON text finds the candidates in one scan; desired_zones reads the exact targets
        spec = cast(Domain.spec, Text)
        query = (
            select(Domain)
            .options(selectinload(Domain.mailboxes))
            .where(or_(*(spec.like(f"%@{name}%") for name in names)), Domain.name.not_in(list(names)))
            .order_by(Domain.name)
        )
        return list((await self._session.scalars(query)).all())

    async def closure(self, name: str, *, reporters: bool = False) -> DesiredRows | None:
        """One domain and just what its view needs, by key (a few indexed reads whatever the fleet's size):
        the fleet settings, its server and the providers it and its server name; None when absent.
        With `reporters`, also the domains whose DMARC reports it receives (what its records need)."""
        # the mailboxes joined: one round trip for the row and its mailboxes
        query = select(Domain).options(joinedload(Domain.mailboxes)).where(Domain.name == name)
        domain = (await self._session.scalars(query)).unique().one_or_none()
        if domain is None:
            return None
        rows = await self.needed_by(domain)
        if reporters:
            rows.domains += await self.reporters([name])
        return rows

    async def needed_by(self, domain: Domain) -> DesiredRows:
        """What a domain's view needs besides the domain: the fleet settings, its server, the providers
        it and its server name (three indexed reads), with `domain` as the only domain."""
        s = self._session
        settings = {row.key: row for row in (await s.scalars(select(DesiredSetting))).all()}
        defaults = settings["defaults"].value if "defaults" in settings else {}
        server_name = domain.spec.get("server") or defaults.get("server")
        servers = list((await s.scalars(select(Server).where(Server.name == server_name))).all()) if server_name else []
        wanted = {("dns", domain.spec.get("dns_provider") or defaults.get("dns_provider"))}
        for server in servers:
            wanted |= {("vps", server.provider), ("mail", server.mail_backend)}
        pairs = [and_(Provider.kind == k, Provider.name == n) for k, n in sorted(wanted, key=str) if n]
        providers = (
            list((await s.scalars(select(Provider).where(or_(*pairs)).order_by(Provider.kind, Provider.name))).all())
            if pairs
            else []
        )
        return DesiredRows(providers, servers, settings, [domain])

    async def domain(self, name: str) -> Domain | None:
        """One domain with its mailboxes."""
        query = select(Domain).options(selectinload(Domain.mailboxes)).where(Domain.name == name)
        return await self._session.scalar(query)

    def add(self, row: Provider | Server | DesiredSetting | Domain) -> None:
        """Stage a new row."""
        self._session.add(row)

    async def remove(self, row: Provider | Server | DesiredSetting | Domain) -> None:
        """Delete a row (a domain's mailboxes go with it)."""
        await self._session.delete(row)

    async def flush(self) -> None:
        """Send staged changes (ids become known) without committing."""
        await self._session.flush()


def set_mailboxes(domain: Domain, wanted: dict[str, tuple[str, str]], managed_by: str) -> None:
    """Make a domain's mailboxes exactly `wanted` (local part → first, last name), keeping rows."""
    current = {m.local_part: m for m in domain.mailboxes}
    rows = []
    for local, (first, last) in sorted(wanted.items()):
        row = current.get(local) or Mailbox(local_part=local)
        row.first_name, row.last_name, row.managed_by = first, last, managed_by
        rows.append(row)
    domain.mailboxes = rows


class DnsOwnership:
    """Which RRsets we manage, per provider and zone."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def owned(self, provider: str, zone: str) -> set[tuple[str, str]]:
        """(name, type) of every RRset we own in the zone."""
        rows = await self._session.execute(
            select(DnsOwnedRecord.name, DnsOwnedRecord.type).where(
                DnsOwnedRecord.provider == provider, DnsOwnedRecord.zone == zone
            )
        )
        return {(name, rtype) for name, rtype in rows.all()}

    async def owned_elsewhere(self, zone: str) -> set[tuple[str, str]]:
        """(name, type) of the RRsets another workspace owns in a zone, whatever it calls its provider.

        Two workspaces may share a server or a zone-file directory: what another workspace made
        is never ours to delete, not even with `purge`.
        """
        workspace = bound_workspace(self._session)
        if workspace is None:
            return set()
        rows = await self._session.execute(
            select(DnsOwnedRecord.name, DnsOwnedRecord.type)
            .where(DnsOwnedRecord.zone == zone, DnsOwnedRecord.workspace_id != workspace)
            .distinct(),
            execution_options=across_workspaces(),
        )
        return {(name, rtype) for name, rtype in rows.all()}

    async def zone_held_elsewhere(self, zone: str) -> bool:
        """True when the zone is a domain of another workspace's desired state (it moved there)."""
        workspace = bound_workspace(self._session)
        if workspace is None:
            return False
        query = select(Domain.id).where(Domain.name == zone, Domain.workspace_id != workspace).limit(1)
        return await self._session.scalar(query, execution_options=across_workspaces()) is not None

    async def zones(self) -> set[tuple[str, str]]:
        """(provider, zone) of every zone where we own something."""
        rows = await self._session.execute(select(DnsOwnedRecord.provider, DnsOwnedRecord.zone).distinct())
        return {(provider, zone) for provider, zone in rows.all()}

    async def claim(self, provider: str, zone: str, keys: set[tuple[str, str]]) -> None:
        """Record ownership (before writing, so that an interrupted apply still knows)."""
        if not keys:
            return
        known = await self.owned(provider, zone)
        for name, rtype in sorted(keys - known):
            self._session.add(DnsOwnedRecord(provider=provider, zone=zone, name=name, type=rtype))

    async def release(self, provider: str, zone: str, keys: set[tuple[str, str]]) -> None:
        """Forget RRsets that were deleted."""
        for name, rtype in keys:
            await self._session.execute(
                delete(DnsOwnedRecord).where(
                    DnsOwnedRecord.provider == provider,
                    DnsOwnedRecord.zone == zone,
                    DnsOwnedRecord.name == name,
                    DnsOwnedRecord.type == rtype,
                )
            )


class MailOwnership:
    """Which mail domains we created, per mail backend (a domain someone else made is never removed)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def domains(self) -> set[tuple[str, str]]:
        """(backend, domain) of every mail domain we created."""
        rows = await self._session.execute(select(MailOwnedDomain.backend, MailOwnedDomain.domain))
        return {(backend, domain) for backend, domain in rows.all()}

    async def held_elsewhere(self, domains: Iterable[str]) -> set[str]:
        """The domains another workspace created a mail domain for, or holds in its desired state now.

        A domain removed from one workspace may have moved to another on the same mail server:
        the one it left never removes what the other now runs.
        """
        workspace = bound_workspace(self._session)
        names = sorted(set(domains))
        if workspace is None or not names:
            return set()
        created = select(MailOwnedDomain.domain).where(
            MailOwnedDomain.domain.in_(names), MailOwnedDomain.workspace_id != workspace
        )
        desired = select(Domain.name).where(Domain.name.in_(names), Domain.workspace_id != workspace)
        held: set[str] = set()
        for query in (created, desired):
            held |= set((await self._session.scalars(query, execution_options=across_workspaces())).all())
        return held

    async def claim(self, backend: str, domain: str) -> None:
        """Record that we create `domain` (before the call, so that an interrupted apply still knows)."""
        found = await self._session.scalar(
            select(MailOwnedDomain.id).where(MailOwnedDomain.backend == backend, MailOwnedDomain.domain == domain)
        )
        if found is None:
            self._session.add(MailOwnedDomain(backend=backend, domain=domain))

    async def release(self, backend: str, domain: str) -> None:
        """Forget a domain that was removed (or whose creation failed)."""
        await self._session.execute(
            delete(MailOwnedDomain).where(MailOwnedDomain.backend == backend, MailOwnedDomain.domain == domain)
        )


class PlanHistory:
    """Applied plans and their outcomes."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(
        self,
        component: str,
        checksum: str,
        status: str,
        plan: dict[str, Any],
        outcome: dict[str, Any],
    ) -> None:
        """Store one applied plan."""
        self._session.add(
            AppliedPlan(component=component, checksum=checksum, status=status, plan=plan, outcome=outcome)
        )

    async def latest(self, component: str = "plan") -> AppliedPlan | None:
        """The newest applied plan of a component."""
        query = select(AppliedPlan).where(AppliedPlan.component == component).order_by(AppliedPlan.id.desc()).limit(1)
        return await self._session.scalar(query)


@dataclass(frozen=True)
class Transition:
    """A (subject, check) whose state changed."""

    subject: str
    check: str
    old: str | None
    new: str
    summary: str


def escalation(result: dict[str, Any]) -> str | None:
    """The id of the worst error of an escalating check's result (None for any other check or result)."""
    if not result.get("escalates"):
        return None
    return next((str(f.get("id")) for f in result.get("findings") or [] if f.get("severity") == "error"), None)


class CheckHistory:
    """Check results (history) and current states (for state-change alerts)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, results: list[tuple[str, str, str, dict[str, Any], str]]) -> list[Transition]:
        """Store (subject, check, status, findings, summary) rows; return the state changes.

        `unknown` is stored in the history but never changes the state: a resolver hiccup is
        not an incident and must not page anyone, nor hide one. Rows go out as three bulk
        statements (history, new states, changed states): a worker's batch stores hundreds of
        results, and ORM objects for each cost more than the checks that produced them.
        """
        now = utcnow()
        transitions: list[Transition] = []
        session = self._session
        # only the states of these subjects when few (a worker records one batch among 100,000);
        # a whole-fleet run reads them all rather than bind more parameters than a driver takes
        subjects = sorted({row[0] for row in results})
        query = select(
            CheckState.id,
            CheckState.subject,
            CheckState.check,
            CheckState.status,
            CheckState.since,
            CheckState.summary,
            CheckState.finding,
        )
        if len(subjects) <= 1000:
            query = query.where(CheckState.subject.in_(subjects))
        stored = {(r.subject, r.check): r._asdict() for r in (await session.execute(query)).all()}
        current: dict[tuple[str, str], dict[str, Any]] = {}
        history = []
        for subject, check, status, findings, summary in results:
            history.append(
                {"subject": subject, "check": check, "status": status, "findings": findings, "checked_at": now}
            )
            key = (subject, check)
            state = current.get(key)
            if state is None and key in stored:
                state = current[key] = stored[key]
            if status == "unknown":
                if state is not None:
                    state["checked_at"] = now
                continue
            worst = escalation(findings)
            if state is None:
                current[key] = {"id": None, "subject": subject, "check": check, "status": status, "since": now}
                current[key].update(checked_at=now, summary=summary, finding=worst)
                transitions.append(Transition(subject, check, None, status, summary))
                continue
            if state["status"] != status:
                transitions.append(Transition(subject, check, state["status"], status, summary))
                state["status"], state["since"] = status, now
            elif status == "error" and worst is not None and worst != state.get("finding"):
                transitions.append(Transition(subject, check, "error", "error", summary))  # escalated: alert again
            state["checked_at"], state["summary"], state["finding"] = now, summary, worst
        if history:
            await session.execute(insert(CheckResultRecord), rows_for(session, history))
        created = [{k: v for k, v in state.items() if k != "id"} for state in current.values() if state["id"] is None]
        if created:
            await session.execute(insert(CheckState), rows_for(session, created))
        changed = [state for state in current.values() if state["id"] is not None]
        if changed:
            await session.execute(update(CheckState), changed)
        if results:  # the overview's rows of the domains these subjects feed, in the same transaction
            workspace = writing_workspace(session, "check states")
            moved = [t.subject for t in transitions]
            await session.run_sync(refresh_checked, workspace, subjects, moved)
        return transitions

    async def states(self) -> Sequence[CheckState]:
        """Every current state."""
        query = select(CheckState).order_by(CheckState.subject, CheckState.check)
        return (await self._session.scalars(query)).all()

    async def states_page(
        self, *, subject: str | None, check: str | None, limit: int, offset: int
    ) -> tuple[Sequence[CheckState], int]:
        """A page of current states by subject and check, optionally of one subject or check, and the total."""
        where = [c for c in (
            CheckState.subject == subject if subject is not None else None,
            CheckState.check == check if check is not None else None,
        ) if c is not None]  # fmt: skip
        total = await self._session.scalar(select(func.count()).select_from(CheckState).where(*where))
        query = (
            select(CheckState).where(*where).order_by(CheckState.subject, CheckState.check).limit(limit).offset(offset)
        )
        return (await self._session.scalars(query)).all(), int(total or 0)

    async def history(self, subject: str, check: str, limit: int = 50, offset: int = 0) -> Sequence[CheckResultRecord]:
        """Newest results of one (subject, check)."""
        query = (
            select(CheckResultRecord)
            .where(CheckResultRecord.subject == subject, CheckResultRecord.check == check)
            .order_by(CheckResultRecord.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return (await self._session.scalars(query)).all()

    async def history_count(self, subject: str, check: str) -> int:
        """How many results of one (subject, check) are stored."""
        query = select(func.count()).where(CheckResultRecord.subject == subject, CheckResultRecord.check == check)
        return int(await self._session.scalar(query) or 0)

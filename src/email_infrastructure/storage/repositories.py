"""Repositories: the only code that reads and writes the tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.vault import Vault
from email_infrastructure.storage.models import (
    AppliedPlan,
    CheckResultRecord,
    CheckState,
    DnsOwnedRecord,
    Domain,
    EventRecord,
    Mailbox,
    SecretRecord,
    Server,
    utcnow,
)


class EventLog:
    """Appends every event on the bus to the `events` table (the audit log)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to every topic; returns the unsubscribe function."""
        return bus.subscribe("*", self.record)

    async def record(self, event: Event) -> None:
        """Store one event."""
        async with self._sessions() as session, session.begin():
            session.add(
                EventRecord(
                    id=event.id,
                    topic=event.topic,
                    source=event.source,
                    payload=dict(event.payload),
                    occurred_at=event.occurred_at,
                )
            )

    async def recent(self, limit: int = 100, topic_prefix: str = "") -> Sequence[EventRecord]:
        """Newest events first."""
        query = select(EventRecord).order_by(EventRecord.occurred_at.desc()).limit(limit)
        if topic_prefix:
            query = query.where(EventRecord.topic.startswith(topic_prefix))
        async with self._sessions() as session:
            return (await session.scalars(query)).all()


class SecretStore:
    """Generated secrets, encrypted at rest by the vault."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], vault: Vault) -> None:
        self._sessions = sessions
        self._vault = vault

    async def put(self, owner: str, name: str, value: str) -> None:
        """Create or replace a secret."""
        async with self._sessions() as session, session.begin():
            row = await session.scalar(
                select(SecretRecord).where(SecretRecord.owner == owner, SecretRecord.name == name)
            )
            if row is None:
                session.add(SecretRecord(owner=owner, name=name, ciphertext=self._vault.encrypt(value)))
            else:
                row.ciphertext = self._vault.encrypt(value)

    async def get(self, owner: str, name: str) -> str | None:
        """The decrypted secret, or None."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(SecretRecord).where(SecretRecord.owner == owner, SecretRecord.name == name)
            )
        return None if row is None else self._vault.decrypt(row.ciphertext)

    async def get_many(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Decrypted secrets for many (owner, name) pairs in one query; absent ones are left out."""
        wanted = set(keys)
        owners = sorted({owner for owner, _ in wanted})
        found: dict[tuple[str, str], str] = {}
        async with self._sessions() as session:
            for start in range(0, len(owners), 500):
                rows = await session.scalars(
                    select(SecretRecord).where(SecretRecord.owner.in_(owners[start : start + 500]))
                )
                for row in rows:
                    if (row.owner, row.name) in wanted:
                        found[(row.owner, row.name)] = self._vault.decrypt(row.ciphertext)
        return found

    async def put_many(self, items: dict[tuple[str, str], str]) -> None:
        """Create many new secrets in one transaction."""
        async with self._sessions() as session, session.begin():
            for (owner, name), value in items.items():
                session.add(SecretRecord(owner=owner, name=name, ciphertext=self._vault.encrypt(value)))

    async def reencrypt_all(self, vault: Vault) -> int:
        """Re-encrypt every secret under `vault`'s primary key in one transaction."""
        async with self._sessions() as session, session.begin():
            rows = (await session.scalars(select(SecretRecord))).all()
            for row in rows:
                row.ciphertext = vault.rotate(row.ciphertext)
        self._vault = vault
        return len(rows)


class DesiredState:
    """Servers, domains and mailboxes as declared by an inventory or the API."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def sync_inventory(self, inventory: Inventory, managed_by: str) -> dict[str, int]:
        """Upsert what the inventory declares; drop what it used to declare and no longer does."""
        counts = {"servers": 0, "domains": 0, "mailboxes": 0, "removed": 0}
        async with self._sessions() as session, session.begin():
            servers = await self._sync_servers(session, inventory, managed_by)
            counts["servers"] = len(servers)
            existing = {
                d.name: d for d in (await session.scalars(select(Domain).options(selectinload(Domain.mailboxes)))).all()
            }
            for spec in inventory.domains:
                resolved = inventory.resolve(spec)
                row = existing.pop(spec.name, None) or Domain(name=spec.name, mailboxes=[])
                if row.id is None:
                    session.add(row)
                row.dns_provider = resolved.dns_provider
                row.server_id = servers[resolved.server.name].id if resolved.server else None
                row.managed_by = managed_by
                row.spec = resolved.model_dump(mode="json", exclude={"server", "mailboxes"})
                wanted = {m.address_local_part: m for m in spec.mailboxes}
                row.mailboxes = [_mailbox(row, local, m, managed_by) for local, m in sorted(wanted.items())]
                counts["domains"] += 1
                counts["mailboxes"] += len(wanted)
            for stale in existing.values():
                if stale.managed_by == managed_by:
                    await session.delete(stale)
                    counts["removed"] += 1
        return counts

    async def _sync_servers(self, session: AsyncSession, inventory: Inventory, managed_by: str) -> dict[str, Server]:
        rows = {s.name: s for s in (await session.scalars(select(Server))).all()}
        for spec in inventory.servers:
            row = rows.get(spec.name)
            if row is None:
                row = rows[spec.name] = Server(name=spec.name)
                session.add(row)
            row.hostname = spec.hostname
            row.provider = spec.provider
            row.ipv4 = str(spec.ipv4) if spec.ipv4 else None
            row.ipv6 = str(spec.ipv6) if spec.ipv6 else None
            row.mail_backend = spec.mail_backend
            row.managed_by = managed_by
            row.spec = spec.model_dump(mode="json")
        declared = {s.name for s in inventory.servers}
        for name, row in list(rows.items()):
            if name not in declared and row.managed_by == managed_by:
                await session.execute(delete(Server).where(Server.id == row.id))
                del rows[name]
        await session.flush()
        return rows

    async def domains(self) -> Sequence[Domain]:
        """Every domain with its mailboxes."""
        async with self._sessions() as session:
            query = select(Domain).options(selectinload(Domain.mailboxes)).order_by(Domain.name)
            return (await session.scalars(query)).all()


def _mailbox(domain: Domain, local: str, spec: Any, managed_by: str) -> Mailbox:
    current = next((m for m in domain.mailboxes if m.local_part == local), None)
    row = current or Mailbox(local_part=local)
    row.first_name = spec.first_name
    row.last_name = spec.last_name
    row.managed_by = managed_by
    return row


class DnsOwnership:
    """Which RRsets we manage, per provider and zone."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def owned(self, provider: str, zone: str) -> set[tuple[str, str]]:
        """(name, type) of every RRset we own in the zone."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(DnsOwnedRecord.name, DnsOwnedRecord.type).where(
                    DnsOwnedRecord.provider == provider, DnsOwnedRecord.zone == zone
                )
            )
            return {(name, rtype) for name, rtype in rows.all()}

    async def claim(self, provider: str, zone: str, keys: set[tuple[str, str]]) -> None:
        """Record ownership (before writing, so that an interrupted apply still knows)."""
        if not keys:
            return
        known = await self.owned(provider, zone)
        async with self._sessions() as session, session.begin():
            for name, rtype in sorted(keys - known):
                session.add(DnsOwnedRecord(provider=provider, zone=zone, name=name, type=rtype))

    async def release(self, provider: str, zone: str, keys: set[tuple[str, str]]) -> None:
        """Forget RRsets that were deleted."""
        if not keys:
            return
        async with self._sessions() as session, session.begin():
            for name, rtype in keys:
                await session.execute(
                    delete(DnsOwnedRecord).where(
                        DnsOwnedRecord.provider == provider,
                        DnsOwnedRecord.zone == zone,
                        DnsOwnedRecord.name == name,
                        DnsOwnedRecord.type == rtype,
                    )
                )


class PlanHistory:
    """Applied plans and their outcomes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(
        self,
        component: str,
        checksum: str,
        status: str,
        plan: dict[str, Any],
        outcome: dict[str, Any],
    ) -> None:
        """Store one applied plan."""
        async with self._sessions() as session, session.begin():
            session.add(
                AppliedPlan(
                    component=component,
                    checksum=checksum,
                    status=status,
                    plan=plan,
                    outcome=outcome,
                )
            )

    async def latest(self, component: str = "dns") -> AppliedPlan | None:
        """The newest applied plan of a component."""
        async with self._sessions() as session:
            query = (
                select(AppliedPlan).where(AppliedPlan.component == component).order_by(AppliedPlan.id.desc()).limit(1)
            )
            return await session.scalar(query)


@dataclass(frozen=True)
class Transition:
    """A (subject, check) whose state changed."""

    subject: str
    check: str
    old: str | None
    new: str
    summary: str


class CheckHistory:
    """Check results (history) and current states (for state-change alerts)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def record(self, results: list[tuple[str, str, str, dict[str, Any], str]]) -> list[Transition]:
        """Store (subject, check, status, findings, summary) rows; return the state changes.

        `unknown` is stored in the history but never changes the state: a resolver hiccup is
        not an incident and must not page anyone, nor hide one.
        """
        now = utcnow()
        transitions: list[Transition] = []
        async with self._sessions() as session, session.begin():
            states = {(s.subject, s.check): s for s in (await session.scalars(select(CheckState))).all()}
            for subject, check, status, findings, summary in results:
                session.add(
                    CheckResultRecord(
                        subject=subject,
                        check=check,
                        status=status,
                        findings=findings,
                        checked_at=now,
                    )
                )
                state = states.get((subject, check))
                if status == "unknown":
                    if state is not None:
                        state.checked_at = now
                    continue
                if state is None:
                    state = CheckState(
                        subject=subject,
                        check=check,
                        status=status,
                        since=now,
                        checked_at=now,
                        summary=summary,
                    )
                    session.add(state)
                    states[(subject, check)] = state
                    transitions.append(Transition(subject, check, None, status, summary))
                    continue
                if state.status != status:
                    transitions.append(Transition(subject, check, state.status, status, summary))
                    state.status, state.since = status, now
                state.checked_at, state.summary = now, summary
        return transitions

    async def states(self) -> Sequence[CheckState]:
        """Every current state."""
        async with self._sessions() as session:
            return (await session.scalars(select(CheckState).order_by(CheckState.subject, CheckState.check))).all()

    async def history(self, subject: str, check: str, limit: int = 50) -> Sequence[CheckResultRecord]:
        """Newest results of one (subject, check)."""
        async with self._sessions() as session:
            query = (
                select(CheckResultRecord)
                .where(CheckResultRecord.subject == subject, CheckResultRecord.check == check)
                .order_by(CheckResultRecord.id.desc())
                .limit(limit)
            )
            return (await session.scalars(query)).all()

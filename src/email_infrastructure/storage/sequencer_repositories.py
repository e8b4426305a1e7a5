"""Each mailbox's account at a sequencer, as stored facts (what the push step wrote)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from email_infrastructure.storage.models import SequencerAccountRecord, utcnow


@dataclass(frozen=True)
class StoredAccount:
    """One stored account, as the push step reads it."""

    sequencer: str
    address: str
    remote_id: str
    created_by_us: bool
    password_fp: str | None
    warmup_started_at: datetime | None

    @classmethod
    def of(cls, row: SequencerAccountRecord) -> StoredAccount:
        """From its row (a time SQLite gives back naive is UTC)."""
        started = row.warmup_started_at
        if started is not None and started.tzinfo is None:
            started = started.replace(tzinfo=UTC)
        return cls(row.sequencer, row.address, row.remote_id, row.created_by_us, row.password_fp, started)


class SequencerAccounts:
    """Read and record the sequencer accounts of our mailboxes (bound to one session)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def of_domain(self, domain: str, sequencer: str | None = None) -> Sequence[SequencerAccountRecord]:
        """The accounts of a domain's mailboxes (at one sequencer when given), by address."""
        query = select(SequencerAccountRecord).where(SequencerAccountRecord.domain == domain)
        if sequencer is not None:
            query = query.where(SequencerAccountRecord.sequencer == sequencer)
        return (await self.session.scalars(query.order_by(SequencerAccountRecord.address))).all()

    async def pairs(self) -> set[tuple[str, str]]:
        """(domain, sequencer) wherever an account is stored."""
        rows = await self.session.execute(
            select(SequencerAccountRecord.domain, SequencerAccountRecord.sequencer).distinct()
        )
        return {(domain, sequencer) for domain, sequencer in rows.all()}

    async def record(
        self,
        sequencer: str,
        address: str,
        domain: str,
        remote_id: str,
        *,
        created_by_us: bool | None = None,
        password_fp: str | None = None,
    ) -> SequencerAccountRecord:
        """Insert or refresh one account (`created_by_us` None: keep what was stored, else False)."""
        row = await self.session.scalar(
            select(SequencerAccountRecord).where(
                SequencerAccountRecord.sequencer == sequencer, SequencerAccountRecord.address == address
            )
        )
        if row is None:
            row = SequencerAccountRecord(sequencer=sequencer, address=address, created_by_us=bool(created_by_us))
            self.session.add(row)
        elif created_by_us is not None:
            row.created_by_us = created_by_us
        row.domain, row.remote_id, row.updated_at = domain, remote_id, utcnow()
        if password_fp is not None:
            row.password_fp = password_fp
        await self.session.flush()
        return row

    async def warmup_started(self, sequencer: str, addresses: Iterable[str]) -> None:
        """We asked the platform to start warmup for these accounts, now."""
        wanted = list(addresses)
        if wanted:
            await self.session.execute(
                update(SequencerAccountRecord)
                .where(SequencerAccountRecord.sequencer == sequencer, SequencerAccountRecord.address.in_(wanted))
                .values(warmup_started_at=utcnow())
            )

    async def forget(self, sequencer: str, addresses: Iterable[str]) -> None:
        """Drop the accounts of these addresses at `sequencer` (removed there, or no longer ours)."""
        wanted = list(addresses)
        if wanted:
            await self.session.execute(
                delete(SequencerAccountRecord).where(
                    SequencerAccountRecord.sequencer == sequencer, SequencerAccountRecord.address.in_(wanted)
                )
            )

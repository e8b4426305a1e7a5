"""The ingest pipeline: every report found in a container is stored in one transaction (all of it
or nothing), keyed by (org, report id, domain): the same report seen twice is stored once.

What cannot be stored becomes a skipped item with its reason; the run goes on. Reports of domains
outside the given set are kept and marked unmanaged (`managed_only` skips them instead). Storage is
behind `ReportStore`; the caller owns the transactions, the events and the enrichment afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from io import BytesIO
from typing import Any

from email_infrastructure.core.errors import ProviderError
from email_infrastructure.dmarc.containers import ContainerLimits, Extractor, Found, Payload, Unreadable
from email_infrastructure.dmarc.failure import parse_failure
from email_infrastructure.dmarc.imap import CONNECTION_ERRORS, ReportMailbox
from email_infrastructure.dmarc.model import MalformedXML, Record, ReportRejected
from email_infrastructure.dmarc.store import DuplicateReport, Transaction
from email_infrastructure.dmarc.tlsrpt import parse_tlsrpt
from email_infrastructure.dmarc.xml import REPAIR_LIMIT, AggregateReader, repair

#: records per executemany: large enough to amortise a round trip, small enough to stay flat
BATCH = 5_000
#: source IPs remembered per run for reverse DNS at most (the rest wait for the next run)
MAX_LOOKUPS = 20_000


@dataclass
class IngestItem:
    """What became of one report document."""

    origin: str
    kind: str
    status: str  # ingested | duplicate | skipped
    reason: str = ""
    domain: str = ""
    org: str = ""
    report_id: str = ""
    records: int = 0
    messages: int = 0
    #: False: the report's domain is not one of the managed domains (stored, marked unmanaged)
    managed: bool = True
    #: what was odd but did not stop it being stored (repaired XML, trailing bytes, early dates)
    notes: list[str] = field(default_factory=list)


def is_managed(domain: str, domains: Iterable[str]) -> bool:
    """`domain` is one of `domains` or a subdomain of one."""
    return any(domain == d or domain.endswith("." + d) for d in domains)


class Ingestor:
    """One run: stores what it is given; remembers the items, source IPs and touched domains."""

    def __init__(
        self,
        transaction: Transaction,
        domains: Iterable[str],
        *,
        now: datetime,
        limits: ContainerLimits,
        max_count: int,
        managed_only: bool = False,
        remember_sources: bool = True,
    ) -> None:
        self.transaction = transaction
        self.domains = {d.lower().rstrip(".") for d in domains}
        self.now = now
        self.max_count = max_count
        self.managed_only = managed_only
        self.remember_sources = remember_sources
        self.extractor = Extractor(limits)
        self.items: list[IngestItem] = []
        #: source IPs of stored records (for reverse DNS afterwards)
        self.ips: set[str] = set()
        #: managed domains with newly stored aggregate reports (for pass-rate alerts afterwards)
        self.touched: set[str] = set()

    def managed(self, domain: str) -> bool:
        """A domain of ours, or a subdomain of one."""
        return is_managed(domain, self.domains)

    def _not_managed(self, domain: str) -> str:
        return f"domain {domain} is not managed here (not in the desired state; EMAIL_INFRA_DMARC_MANAGED_ONLY is on)"

    async def take(self, found: Iterable[Found]) -> list[IngestItem]:
        """Store every report found; each item is also added to the run's items."""
        items = []
        for entry in found:
            if isinstance(entry, Unreadable):
                item = IngestItem(entry.origin, "unknown", "skipped", entry.reason)
            elif entry.kind == "aggregate":
                item = await self._aggregate(entry)
            elif entry.kind == "tlsrpt":
                item = await self._tls(entry)
            else:
                item = await self._failure(entry)
            items.append(item)
            self.items.append(item)
        return items

    async def _aggregate(self, payload: Payload) -> IngestItem:
        assert payload.stream is not None
        item = IngestItem(payload.origin, "aggregate", "skipped")
        try:
            return await self._store_aggregate(item, AggregateReader(payload.stream, **self._reader_options()), payload)
        except MalformedXML as exc:
            if exc.document is None:
                limit = f"{REPAIR_LIMIT // (1024 * 1024)} MiB"
                item.reason = f"{exc.reason} (not repaired: a document over {limit} is never repaired)"
                return item
            try:
                document, errors, first = repair(exc.document)
            except ReportRejected as refused:
                item.reason = f"{exc.reason} ({refused.reason})"
                return item
            note = f"XML repaired: {errors} error(s), the first: {first or exc.reason.removeprefix('malformed XML: ')}"
            reader = AggregateReader(BytesIO(document), keep_for_repair=0, **self._reader_options())
            try:
                return await self._store_aggregate(item, reader, payload, [note])
            except ReportRejected as again:
                item.reason = f"{again.reason} (in the XML as repaired: {note})"
                return item
        except ReportRejected as exc:
            item.reason = exc.reason
            return item

    def _reader_options(self) -> dict[str, Any]:
        return {"now": self.now, "max_count": self.max_count}

    async def _store_aggregate(
        self, item: IngestItem, reader: AggregateReader, payload: Payload, notes: Sequence[str] = ()
    ) -> IngestItem:
        """Store one report in one transaction; ReportRejected (rolled back) when it turns out bad."""
        header = reader.header()
        meta, domain = header.metadata, header.policy.domain
        item.domain, item.org, item.report_id = domain, meta.org_name, meta.report_id
        item.managed = self.managed(domain)
        if not item.managed and self.managed_only:
            item.reason = self._not_managed(domain)
            return item
        try:
            async with self.transaction() as store:
                # no look-up first: the unique key refuses a duplicate at this insert, before any record
                pk = await store.add_report(header, payload.origin)
                day, batch, messages = meta.begin.date(), list[Record](), 0
                remember = self.remember_sources and len(self.ips) < MAX_LOOKUPS
                for record in reader.records():
                    batch.append(record)
                    messages += record.count
                    if remember:
                        self.ips.add(record.source_ip)
                    if len(batch) >= BATCH:
                        await store.add_records(pk, domain, day, batch)
                        batch = []
                await store.add_records(pk, domain, day, batch)
                # the container's notes are known once the stream is read to its end
                item.notes = [*notes, *payload.notes, *header.notes]
                await store.finish_report(pk, reader.record_count, messages, item.notes)
        except DuplicateReport:
            item.status = "duplicate"  # (org, report id, domain) is stored already: rolled back
            return item
        item.status, item.records, item.messages = "ingested", reader.record_count, messages
        if item.managed:
            self.touched.add(domain)  # pass-rate alerts are for our domains only
        return item

    async def _tls(self, payload: Payload) -> IngestItem:
        assert payload.stream is not None
        item = IngestItem(payload.origin, "tlsrpt", "skipped")
        try:
            report = parse_tlsrpt(payload.stream, now=self.now, max_count=self.max_count)
        except ReportRejected as exc:
            item.reason = exc.reason
            return item
        item.org, item.report_id = report.organization_name, report.report_id
        named = sorted({p.policy_domain for p in report.policies})
        managed = {d for d in named if self.managed(d)}
        ours = managed if self.managed_only else set(named)
        item.domain = ",".join(sorted(ours) or named)
        item.managed = bool(named) and managed == set(named)
        if not ours:
            item.reason = self._not_managed(", ".join(named) or "(none)")
            return item
        try:
            async with self.transaction() as store:
                if await store.tls_exists(report.organization_name, report.report_id):
                    raise DuplicateReport
                await store.add_tls(report, ours, payload.origin)
        except DuplicateReport:
            item.status = "duplicate"
            return item
        item.status, item.notes = "ingested", list(payload.notes)
        item.records = sum(1 for p in report.policies if p.policy_domain in ours)
        item.messages = sum(
            p.successful_sessions + p.failed_sessions for p in report.policies if p.policy_domain in ours
        )
        return item

    async def _failure(self, payload: Payload) -> IngestItem:
        assert payload.message is not None
        item = IngestItem(payload.origin, "failure", "skipped")
        try:
            report = parse_failure(payload.message, now=self.now)
        except ReportRejected as exc:
            item.reason = exc.reason
            return item
        item.domain, item.org, item.report_id = report.reported_domain, report.reporter, report.message_id
        item.managed = self.managed(report.reported_domain)
        if not item.managed and self.managed_only:
            item.reason = self._not_managed(report.reported_domain)
            return item
        arrival = report.arrival.isoformat() if report.arrival else ""
        identity = [report.reporter, report.reported_domain, report.source_ip, arrival, report.message_id]
        identity += [report.auth_failure, report.original_mail_from, report.original_rcpt_to]
        fingerprint = hashlib.sha256("\x00".join(identity).encode()).hexdigest()
        try:
            async with self.transaction() as store:
                if await store.failure_exists(fingerprint):
                    raise DuplicateReport
                await store.add_failure(fingerprint, report)
        except DuplicateReport:
            item.status = "duplicate"
            return item
        item.status, item.records, item.messages = "ingested", 1, 1
        if report.delivery_result_reported:
            item.notes.append(
                f"Delivery-Result {report.delivery_result_reported[:40]!r} is not one of RFC 6591's: stored as 'other'"
            )
        return item


async def ingest_mailbox(ingestor: Ingestor, box: ReportMailbox, move_to: str | None, retries: int) -> dict[str, int]:
    """Every message of the mailbox's folder through `ingestor`; processed ones move to `move_to`.

    A dropped connection is reopened (at most `retries` times) and the folder listed again; UIDs
    already stored or moved are skipped, so a resume neither re-stores nor re-parses anything.
    Returns {"messages", "moved", "reconnects"}.
    """
    location = box.location
    # UIDs whose reports are stored (not yet moved) and moved: a resume skips both
    stored: set[int] = set()
    moved: set[int] = set()
    stats = {"messages": 0, "moved": 0, "reconnects": 0}
    validity = None
    limit = ingestor.extractor.limits.max_message_bytes
    while True:
        try:
            await asyncio.to_thread(box.connect)
            if validity is not None and box.uidvalidity != validity:
                stored.clear()  # UIDs were renumbered: the unique keys still stop duplicates
            validity = box.uidvalidity
            for uid in await asyncio.to_thread(box.uids):
                if uid in moved:
                    continue
                if uid not in stored:
                    data = await asyncio.to_thread(box.fetch, uid)
                    if data is None:
                        continue
                    stats["messages"] += 1
                    origin = f"{location} UID {uid}"
                    if len(data) > limit:
                        await ingestor.take([Unreadable(origin, f"message larger than {limit:,} bytes")])
                    else:
                        await ingestor.take(ingestor.extractor.from_message(data, origin))
                    stored.add(uid)
                if move_to:
                    await asyncio.to_thread(box.move, uid, move_to)
                    moved.add(uid)
                    stats["moved"] += 1
            break
        except CONNECTION_ERRORS as exc:
            stats["reconnects"] += 1
            if stats["reconnects"] > retries:
                raise ProviderError(
                    f"the connection dropped {stats['reconnects']} times (last: {exc})", provider=str(location)
                ) from None
            await asyncio.to_thread(box.drop)
            await asyncio.sleep(min(0.2 * stats["reconnects"], 2.0))
    await asyncio.to_thread(box.drop)
    return stats

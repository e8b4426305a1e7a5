"""The ingest pipeline (dmarc/ingest.py) behind its `ReportStore`: against an in-memory store that
keeps transactions and unique keys as the database does, and against the real storage (a transaction
per report, or a batch of reports with a savepoint each)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from email_infrastructure.core.database import READ_ONLY
from email_infrastructure.dmarc import ingest
from email_infrastructure.dmarc.containers import ContainerLimits
from email_infrastructure.dmarc.ingest import Ingestor
from email_infrastructure.dmarc.model import FailureReport, Record, ReportHeader, TlsReport
from email_infrastructure.dmarc.store import DuplicateReport, ReportStore, Transaction
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import ReportBatch, report_transaction
from email_infrastructure.storage.dmarc_repositories import DmarcStore
from email_infrastructure.storage.models import DmarcRecord
from tests.dmarc.reports import Row, aggregate, failure_report, report_email, tlsrpt

OURS = {"acme-outreach.test", "acme-mail.test"}


@dataclass
class Tables:
    """What the fake store holds: aggregate reports by (org, id, domain), their records, TLS and failure reports."""

    reports: dict[tuple[str, str, str], dict[str, object]] = field(default_factory=dict)
    records: list[tuple[int, str, date, Record]] = field(default_factory=list)
    tls: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    failures: dict[str, FailureReport] = field(default_factory=dict)


class MemoryStore:
    """A `ReportStore` over `Tables`, writing to a copy that its transaction commits or drops."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables

    async def add_report(self, header: ReportHeader, origin: str) -> int:
        key = (header.metadata.org_name, header.metadata.report_id, header.policy.domain)
        if key in self.tables.reports:
            raise DuplicateReport  # what the database's unique key does at the insert
        self.tables.reports[key] = {"origin": origin}
        return len(self.tables.reports)

    async def add_records(self, report_pk: int, domain: str, day: date, records: Sequence[Record]) -> None:
        self.tables.records.extend((report_pk, domain, day, r) for r in records)

    async def finish_report(
        self, report_pk: int, record_count: int, message_count: int, notes: Sequence[str] = ()
    ) -> None:
        report = list(self.tables.reports.values())[report_pk - 1]
        report.update(records=record_count, messages=message_count, notes=list(notes))

    async def tls_exists(self, org: str, report_id: str) -> bool:
        return (org, report_id) in self.tables.tls

    async def add_tls(self, report: TlsReport, domains: set[str], origin: str) -> int:
        self.tables.tls[(report.organization_name, report.report_id)] = set(domains)
        return len(self.tables.tls)

    async def failure_exists(self, fingerprint: str) -> bool:
        return fingerprint in self.tables.failures

    async def add_failure(self, fingerprint: str, report: FailureReport) -> None:
        self.tables.failures[fingerprint] = report


class MemoryDatabase:
    """Committed tables and the pipeline's `Transaction` over them."""

    def __init__(self) -> None:
        self.committed = Tables()
        self.transactions = 0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[ReportStore]:
        self.transactions += 1
        working = copy.deepcopy(self.committed)
        yield MemoryStore(working)  # an exception leaves `committed` as it was: rolled back
        self.committed = working


def pipeline(transaction: Transaction, *, managed_only: bool = False, remember_sources: bool = True) -> Ingestor:
    return Ingestor(
        transaction,
        OURS,
        now=datetime.now(UTC),
        limits=ContainerLimits(),
        max_count=10_000_000,
        managed_only=managed_only,
        remember_sources=remember_sources,
    )


async def take(ingestor: Ingestor, tmp_path: Path, name: str, data: bytes) -> list[ingest.IngestItem]:
    path = tmp_path / name
    path.write_bytes(data)
    return await ingestor.take(ingestor.extractor.from_path(path))


async def test_a_report_is_stored_once_in_batches_and_a_bad_one_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "BATCH", 2)
    database = MemoryDatabase()
    ingestor = pipeline(database.transaction)
    rows = [Row(f"192.0.2.{i}", 3) for i in range(1, 6)]
    [item] = await take(ingestor, tmp_path, "a.xml", aggregate(rows, report_id="five"))
    assert (item.status, item.records, item.messages, item.managed) == ("ingested", 5, 15, True)
    assert len(database.committed.records) == 5
    assert database.committed.reports[("receiver.example", "five", "acme-outreach.test")]["messages"] == 15
    [again] = await take(ingestor, tmp_path, "b.xml", aggregate(rows, report_id="five"))
    assert again.status == "duplicate" and len(database.committed.records) == 5
    # a negative count after two batches went in: the whole report is rolled back
    late = aggregate([*rows, Row("192.0.2.99", -1)], report_id="late")
    [bad] = await take(ingestor, tmp_path, "c.xml", late)
    assert bad.status == "skipped" and "negative" in bad.reason
    assert len(database.committed.reports) == 1 and len(database.committed.records) == 5
    assert ingestor.touched == {"acme-outreach.test"}
    assert ingestor.ips == {r.ip for r in rows}
    assert [i.status for i in ingestor.items] == ["ingested", "duplicate", "skipped"]


async def test_tls_and_failure_duplicates_are_found_by_the_store(tmp_path: Path) -> None:
    database = MemoryDatabase()
    ingestor = pipeline(database.transaction)
    # each built once: the failure report's dates come from the clock, and a second apart they are another report
    tls, failure = tlsrpt(), failure_report()
    for _ in range(2):
        await take(ingestor, tmp_path, "t.json", tls)
        await take(ingestor, tmp_path, "f.eml", failure)
    assert [(i.kind, i.status) for i in ingestor.items] == [
        ("tlsrpt", "ingested"), ("failure", "ingested"), ("tlsrpt", "duplicate"), ("failure", "duplicate"),
    ]  # fmt: skip
    assert len(database.committed.tls) == 1 and len(database.committed.failures) == 1
    assert ingestor.touched == set()  # pass rates are judged on aggregate reports only


async def test_other_domains_are_marked_unmanaged_or_skipped_without_a_transaction(tmp_path: Path) -> None:
    database = MemoryDatabase()
    kept = pipeline(database.transaction, remember_sources=False)
    [item] = await take(kept, tmp_path, "o.xml", aggregate([Row("192.0.2.1", 1)], domain="other.example"))
    assert (item.status, item.managed) == ("ingested", False)
    assert kept.touched == set() and kept.ips == set()
    before = database.transactions
    strict = pipeline(database.transaction, managed_only=True)
    report = report_email(aggregate([Row("192.0.2.1", 1)], domain="else.example", report_id="e"), "e.xml")
    [skipped] = await take(strict, tmp_path, "e.eml", report)
    assert skipped.status == "skipped" and "else.example is not managed" in skipped.reason
    assert database.transactions == before


async def test_the_real_storage_is_a_report_store(app: App, tmp_path: Path) -> None:
    async with app.uow() as uow:
        store: ReportStore = DmarcStore(uow.session)  # mypy checks the protocol structurally
        assert await store.tls_exists("nobody", "none") is False
    ingestor = pipeline(report_transaction(app))
    data = aggregate([Row("192.0.2.1", 4), Row("192.0.2.2", 6)], report_id="real")
    await take(ingestor, tmp_path, "a.xml", data)
    await take(ingestor, tmp_path, "b.xml", data)  # the unique key's refusal becomes a duplicate
    await take(ingestor, tmp_path, "t.json", tlsrpt())
    await take(ingestor, tmp_path, "u.json", tlsrpt())
    assert [(i.kind, i.status, i.messages) for i in ingestor.items] == [
        ("aggregate", "ingested", 10), ("aggregate", "duplicate", 0),
        ("tlsrpt", "ingested", 122), ("tlsrpt", "duplicate", 0),
    ]  # fmt: skip
    async with app.uow() as uow:
        totals = await DmarcStore(uow.session).totals_by("domain", None, None)
    assert [tuple(t) for t in totals] == [("acme-outreach.test", 10, 10, 10, 10)]


async def stored(app: App) -> list[tuple[str, int, int]]:
    """(report id, records, messages) of the committed aggregate reports, by report id."""
    async with app.uow() as uow:
        # read-only: SQLite's reader then does not wait for the write lock an open batch holds
        await uow.session.connection(execution_options={READ_ONLY: True})
        rows = await DmarcStore(uow.session).reports_page(None, 100, 0)
        records = await uow.session.scalar(select(func.count()).select_from(DmarcRecord))
    assert records == sum(r.record_count for r in rows[0])  # no record of a rolled-back report is left
    return sorted((r.report_id, r.record_count, r.message_count) for r in rows[0])


async def test_a_batch_keeps_every_good_report_around_a_duplicate_and_a_bad_one(app: App, tmp_path: Path) -> None:
    batch = ReportBatch(app)
    ingestor = pipeline(batch)
    rows = [Row(f"192.0.2.{i}", 2) for i in range(1, 4)]
    async with batch:
        await take(ingestor, tmp_path, "a.xml", aggregate(rows, report_id="a"))
        await take(ingestor, tmp_path, "dup.xml", aggregate(rows, report_id="a"))
        await take(ingestor, tmp_path, "bad.xml", aggregate([*rows, Row("192.0.2.9", -1)], report_id="bad"))
        await take(ingestor, tmp_path, "t.json", tlsrpt())
        await take(ingestor, tmp_path, "t2.json", tlsrpt())
        await take(ingestor, tmp_path, "b.xml", aggregate(rows[:1], report_id="b"))
        assert await stored(app) == []  # one transaction for the lot: nothing committed before it ends
    assert [i.status for i in ingestor.items] == [
        "ingested",
        "duplicate",
        "skipped",
        "ingested",
        "duplicate",
        "ingested",
    ]
    assert await stored(app) == [("a", 3, 6), ("b", 1, 2)]
    assert batch.commits == 1


async def test_a_batch_commits_what_it_holds_when_the_run_fails_and_when_it_is_full(app: App, tmp_path: Path) -> None:
    batch = ReportBatch(app, max_reports=2)
    ingestor = pipeline(batch)

    async def run_that_fails() -> None:
        async with batch:
            for n in range(3):
                await take(ingestor, tmp_path, f"{n}.xml", aggregate([Row("192.0.2.1", 1)], report_id=f"r{n}"))
            assert await stored(app) == [("r0", 1, 1), ("r1", 1, 1)]  # full at two: committed
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        await run_that_fails()
    assert await stored(app) == [("r0", 1, 1), ("r1", 1, 1), ("r2", 1, 1)]
    assert batch.commits == 2
    late = ReportBatch(app, max_seconds=0.0)  # held the write lock long enough after every report
    ingestor = pipeline(late)
    async with late:
        await take(ingestor, tmp_path, "x.xml", aggregate([Row("192.0.2.1", 1)], report_id="x"))
        assert ("x", 1, 1) in await stored(app)
    assert late.commits == 1


async def test_each_record_keeps_its_own_details_when_records_repeat_them(app: App, tmp_path: Path) -> None:
    failing = Row("192.0.2.2", 1, dkim="fail", dkim_auth=("other.example", "s2", "fail"), reasons=[("forwarded", "")])
    listed = Row("192.0.2.5", 1, reasons=[("mailing_list", "x")])
    rows = [Row("192.0.2.1", 1), failing, Row("192.0.2.3", 1), Row("192.0.2.4", 1, spf_auth=None), listed]
    await take(pipeline(report_transaction(app)), tmp_path, "a.xml", aggregate(rows, report_id="details"))
    async with app.uow() as uow:
        stored = (await uow.session.scalars(select(DmarcRecord).order_by(DmarcRecord.id))).all()
    ok = {
        "reasons": [],
        "dkim": [["acme-outreach.test", "s1", "pass"]],
        "spf": [["bounce.acme-outreach.test", "mfrom", "pass"]],
    }
    assert [r.details for r in stored] == [
        ok,
        {"reasons": [["forwarded", ""]], "dkim": [["other.example", "s2", "fail"]], "spf": ok["spf"]},
        ok,
        {**ok, "spf": []},
        {**ok, "reasons": [["mailing_list", "x"]]},
    ]

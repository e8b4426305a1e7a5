"""Repositories of the report tables (DMARC aggregate and failure reports, TLS reports).

Bound to one session and never committing, like storage/repositories.py: the service's unit of
work stores a report in one transaction, so a report that fails half-way leaves nothing behind.
`DmarcStore` is the ingest pipeline's `ReportStore` (dmarc/store.py): it satisfies the protocol
structurally, and services/dmarc.py hands it to the pipeline inside each report's transaction.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, delete, func, insert, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from email_infrastructure.dmarc.model import FailureReport, Record, ReportHeader, TlsReport
from email_infrastructure.storage.models import (
    DmarcFailureReport,
    DmarcRecord,
    DmarcReport,
    DmarcSource,
    TlsFailureRecord,
    TlsPolicyResult,
    TlsReportRecord,
    utcnow,
)
from email_infrastructure.storage.scoping import writing_workspace

#: Core tables: a batch insert without the ORM's per-row bookkeeping
_REPORTS = cast(Table, DmarcReport.__table__)
_RECORDS = cast(Table, DmarcRecord.__table__)
_SOURCES = cast(Table, DmarcSource.__table__)


#: built once (their compiled forms are cached): building a statement per report costs more than running it
_ADD_REPORT = insert(_REPORTS).returning(_REPORTS.c.id)
_FINISH_REPORT = (
    update(_REPORTS)
    .where(_REPORTS.c.id == bindparam("pk"))
    .values(record_count=bindparam("record_count"), message_count=bindparam("message_count"), notes=bindparam("notes"))
)
#: the record row's columns in the order `add_records` builds its tuples
_RECORD_COLUMNS = (
    "workspace_id", "report_pk", "domain", "day", "source_ip", "count", "disposition", "dkim", "spf",
    "dkim_aligned", "spf_aligned", "dmarc_pass", "header_from", "envelope_from", "envelope_to", "details",
)  # fmt: skip
#: a record's `details` as compact JSON (one encoder for every record: `json.dumps` with options builds one per call)
_DETAILS = json.JSONEncoder(separators=(",", ":")).encode


@functools.cache
def _record_insert(dialect: Dialect) -> tuple[str, Callable[[tuple[Any, ...]], tuple[Any, ...]] | None]:
    """The driver's INSERT of one record row, and how to reorder a row built in `_RECORD_COLUMNS` (None: as built)."""
    columns = [c.name for c in _RECORDS.columns if c.name != "id"]
    if set(columns) != set(_RECORD_COLUMNS):
        raise RuntimeError(f"dmarc_records has columns {columns}, add_records builds {_RECORD_COLUMNS}")
    compiled = insert(_RECORDS).values({name: bindparam(name) for name in columns}).compile(dialect=dialect)
    order = tuple(compiled.positiontup or ())
    if set(order) != set(columns):
        raise RuntimeError(f"{dialect.name}: the record INSERT does not take positional parameters")
    if order == _RECORD_COLUMNS:
        return str(compiled), None
    return str(compiled), operator.itemgetter(*(_RECORD_COLUMNS.index(name) for name in order))


def _passed(flag: Any) -> Any:
    """Messages of the rows where `flag` holds."""
    return func.coalesce(func.sum(case((flag, DmarcRecord.count), else_=0)), 0)


class DmarcStore:
    """Reports, their records, the sources they name, and the aggregates the summary reads."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # -- aggregate reports -------------------------------------------------------------------------

    async def add_report(self, header: ReportHeader, origin: str) -> int:
        """Insert the report row (a duplicate fails here, before any record).

        A Core INSERT … RETURNING: the row is never read back as an object, so the ORM's unit of
        work (an add, a flush, an identity map entry per report) is cost without use.
        """
        meta, policy = header.metadata, header.policy
        values = {
            "org_name": meta.org_name,
            "report_id": meta.report_id,
            "domain": policy.domain,
            "email": meta.email,
            "schema": header.schema,
            "begin": meta.begin,
            "end": meta.end,
            "policy": {**asdict(policy), "errors": list(meta.errors), "generator": meta.generator},
            "origin": origin,
            "notes": list(header.notes),
            "workspace_id": writing_workspace(self._session, "a DMARC report"),
        }
        result = await self._session.execute(_ADD_REPORT, values)
        return int(result.scalar_one())

    async def add_records(self, report_pk: int, domain: str, day: date, records: Sequence[Record]) -> None:
        """Insert a batch of records in one driver-level executemany.

        The statement is compiled once per dialect and rows go to the driver as tuples built in the
        table's column order (reordered only if a dialect asks for another): the ORM's and Core's
        per-row parameter processing cost more than the database's work here.
        """
        if not records:
            return
        connection = await self._session.connection()
        sql, reorder = _record_insert(connection.dialect)
        day_value: Any = day.isoformat() if connection.dialect.name == "sqlite" else day
        workspace = writing_workspace(self._session, "DMARC records")
        rows = []
        # A report repeats a few combinations of results: each is encoded once per batch (2.7 -> 1.2 us a record).
        encoded: dict[tuple[Any, ...], str] = {}
        encode = _DETAILS
        for r in records:
            key = (
                tuple([(x.type, x.comment) for x in r.reasons]) if r.reasons else (),
                tuple([(a.domain, a.selector, a.result) for a in r.dkim_results]),
                tuple([(a.domain, a.scope, a.result) for a in r.spf_results]),
            )
            details = encoded.get(key)
            if details is None:
                details = encoded[key] = encode({"reasons": key[0], "dkim": key[1], "spf": key[2]})
            dkim_pass, spf_pass = r.dkim == "pass", r.spf == "pass"
            rows.append(
                (
                    workspace,
                    report_pk,
                    domain,
                    day_value,
                    r.source_ip,
                    r.count,
                    r.disposition[:16],
                    r.dkim[:16],
                    r.spf[:16],
                    dkim_pass,
                    spf_pass,
                    dkim_pass or spf_pass,
                    r.header_from[:253],
                    r.envelope_from[:253] or None,
                    r.envelope_to[:253] or None,
                    details,
                )
            )
        if reorder is not None:
            rows = [reorder(row) for row in rows]
        await connection.exec_driver_sql(sql, rows)

    async def finish_report(
        self, report_pk: int, record_count: int, message_count: int, notes: Sequence[str] = ()
    ) -> None:
        """Set the totals (and the notes, some known only at the end of the data) once every record is in."""
        values = {"pk": report_pk, "record_count": record_count, "message_count": message_count}
        await self._session.execute(_FINISH_REPORT, {**values, "notes": [n[:500] for n in notes]})

    # -- TLS and failure reports -------------------------------------------------------------------

    async def tls_exists(self, org: str, report_id: str) -> bool:
        """True when this (organization, report id) is stored."""
        query = select(TlsReportRecord.id).where(
            TlsReportRecord.org_name == org, TlsReportRecord.report_id == report_id
        )
        return (await self._session.scalar(query)) is not None

    async def add_tls(self, report: TlsReport, domains: set[str], origin: str) -> int:
        """Insert a TLS report with the policies of `domains` and their failure details."""
        row = TlsReportRecord(
            org_name=report.organization_name,
            report_id=report.report_id,
            begin=report.begin,
            end=report.end,
            contact_info=report.contact_info[:320],
            origin=origin,
        )
        self._session.add(row)
        await self._session.flush()
        day = report.begin.date()
        for policy in report.policies:
            if policy.policy_domain not in domains:
                continue
            result = TlsPolicyResult(
                report_pk=row.id,
                domain=policy.policy_domain,
                day=day,
                policy_type=policy.policy_type,
                successful_sessions=policy.successful_sessions,
                failed_sessions=policy.failed_sessions,
                policy={"mx_hosts": list(policy.mx_hosts), "policy_string": list(policy.policy_string)},
            )
            self._session.add(result)
            await self._session.flush()
            for failure in policy.failures:
                self._session.add(
                    TlsFailureRecord(
                        policy_pk=result.id,
                        domain=policy.policy_domain,
                        day=day,
                        result_type=failure.result_type[:64],
                        failed_session_count=failure.failed_session_count,
                        sending_mta_ip=failure.sending_mta_ip[:45],
                        receiving_mx_hostname=failure.receiving_mx_hostname[:253],
                        receiving_ip=failure.receiving_ip[:45],
                        additional_information=failure.additional_information,
                    )
                )
        await self._session.flush()
        return row.id

    async def failure_exists(self, fingerprint: str) -> bool:
        """True when a failure report with this fingerprint is stored."""
        query = select(DmarcFailureReport.id).where(DmarcFailureReport.fingerprint == fingerprint)
        return (await self._session.scalar(query)) is not None

    async def add_failure(self, fingerprint: str, report: FailureReport) -> None:
        """Insert a failure report."""
        fields = asdict(report)
        for kept in ("reported_domain", "arrival", "source_ip", "reporter", "original_headers"):
            fields.pop(kept)
        self._session.add(
            DmarcFailureReport(
                fingerprint=fingerprint,
                domain=report.reported_domain,
                arrival=report.arrival,
                source_ip=report.source_ip,
                reporter=report.reporter[:253],
                auth_failure=report.auth_failure[:32],
                delivery_result=report.delivery_result[:32],
                fields=fields,
                original_headers=report.original_headers,
            )
        )
        await self._session.flush()

    # -- sources -----------------------------------------------------------------------------------

    async def source_names(self, ips: Iterable[str]) -> dict[str, str]:
        """Reverse DNS names known for these IPs."""
        wanted = list(dict.fromkeys(ips))
        names: dict[str, str] = {}
        for start in range(0, len(wanted), 500):
            query = select(DmarcSource.ip, DmarcSource.reverse_dns).where(
                DmarcSource.ip.in_(wanted[start : start + 500])
            )
            names.update((str(ip), str(name)) for ip, name in (await self._session.execute(query)).all())
        return names

    async def save_source_names(self, names: dict[str, str]) -> None:
        """Replace the reverse DNS names of these IPs."""
        items = sorted(names.items())
        for start in range(0, len(items), 500):
            chunk = items[start : start + 500]
            await self._session.execute(delete(DmarcSource).where(DmarcSource.ip.in_([ip for ip, _ in chunk])))
            now = utcnow()
            await self._session.execute(
                insert(_SOURCES),
                [{"ip": ip, "reverse_dns": n[:253], "checked_at": now} for ip, n in chunk],
            )

    # -- aggregates --------------------------------------------------------------------------------

    @staticmethod
    def _where(domain: str | None, since: date | None) -> ColumnElement[bool]:
        clauses: list[ColumnElement[bool]] = []
        if domain:
            clauses.append(DmarcRecord.domain == domain)
        if since:
            clauses.append(DmarcRecord.day >= since)
        return and_(True, *clauses)

    async def totals_by(self, key: str, domain: str | None, since: date | None) -> list[tuple[Any, ...]]:
        """(key, messages, dmarc pass, spf aligned, dkim aligned) grouped by `source_ip`, `domain` or `org`."""
        column: Any = DmarcReport.org_name if key == "org" else getattr(DmarcRecord, key)
        query = select(
            column,
            func.coalesce(func.sum(DmarcRecord.count), 0),
            _passed(DmarcRecord.dmarc_pass),
            _passed(DmarcRecord.spf_aligned),
            _passed(DmarcRecord.dkim_aligned),
        ).where(self._where(domain, since))
        if key == "org":
            query = query.join(DmarcReport, DmarcReport.id == DmarcRecord.report_pk)
        query = query.group_by(column).order_by(func.sum(DmarcRecord.count).desc(), column)
        return [tuple(row) for row in (await self._session.execute(query)).all()]

    async def tls_failures(self, domain: str | None, since: date | None) -> list[tuple[str, int]]:
        """(result type, failed sessions), most first."""
        total = func.sum(TlsFailureRecord.failed_session_count)
        query = select(TlsFailureRecord.result_type, total)
        if domain:
            query = query.where(TlsFailureRecord.domain == domain)
        if since:
            query = query.where(TlsFailureRecord.day >= since)
        query = query.group_by(TlsFailureRecord.result_type).order_by(total.desc(), TlsFailureRecord.result_type)
        return [(str(t), int(n or 0)) for t, n in (await self._session.execute(query)).all()]

    async def tls_sessions(self, domain: str | None, since: date | None) -> tuple[int, int]:
        """(successful, failed) sessions of the TLS reports."""
        query = select(
            func.coalesce(func.sum(TlsPolicyResult.successful_sessions), 0),
            func.coalesce(func.sum(TlsPolicyResult.failed_sessions), 0),
        )
        if domain:
            query = query.where(TlsPolicyResult.domain == domain)
        if since:
            query = query.where(TlsPolicyResult.day >= since)
        ok, failed = (await self._session.execute(query)).one()
        return int(ok), int(failed)

    async def report_counts(self, domain: str | None, since: datetime | None) -> tuple[int, int]:
        """(aggregate reports, failure reports) stored."""
        reports = select(func.count()).select_from(DmarcReport)
        failures = select(func.count()).select_from(DmarcFailureReport)
        if domain:
            reports = reports.where(DmarcReport.domain == domain)
            failures = failures.where(DmarcFailureReport.domain == domain)
        if since:
            reports = reports.where(DmarcReport.end >= since)
        return int(await self._session.scalar(reports) or 0), int(await self._session.scalar(failures) or 0)

    # -- the API's and the dashboard's views -------------------------------------------------------

    async def totals_by_day(self, domain: str | None, since: date | None) -> list[tuple[Any, ...]]:
        """(domain, day, messages, dmarc pass, spf aligned, dkim aligned) per domain and day, oldest first."""
        query = (
            select(
                DmarcRecord.domain,
                DmarcRecord.day,
                func.coalesce(func.sum(DmarcRecord.count), 0),
                _passed(DmarcRecord.dmarc_pass),
                _passed(DmarcRecord.spf_aligned),
                _passed(DmarcRecord.dkim_aligned),
            )
            .where(self._where(domain, since))
            .group_by(DmarcRecord.domain, DmarcRecord.day)
            .order_by(DmarcRecord.domain, DmarcRecord.day)
        )
        return [tuple(row) for row in (await self._session.execute(query)).all()]

    async def reports_page(self, domain: str | None, limit: int, offset: int) -> tuple[list[DmarcReport], int]:
        """Aggregate reports, newest period first (ties by id), and how many there are in all."""
        query = select(DmarcReport)
        total = select(func.count()).select_from(DmarcReport)
        if domain:
            query, total = query.where(DmarcReport.domain == domain), total.where(DmarcReport.domain == domain)
        query = query.order_by(DmarcReport.end.desc(), DmarcReport.id.desc()).limit(limit).offset(offset)
        rows = list((await self._session.scalars(query)).all())
        return rows, int(await self._session.scalar(total) or 0)

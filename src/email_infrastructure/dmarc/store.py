"""What the ingest pipeline needs of storage: `ReportStore` (storage/dmarc_repositories.py's
`DmarcStore` implements it) inside one transaction per report (the caller's unit of work)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date
from typing import Protocol

from email_infrastructure.dmarc.model import FailureReport, Record, ReportHeader, TlsReport


class DuplicateReport(Exception):
    """The report is stored already: its transaction is rolled back and the item counts as a duplicate."""


class ReportStore(Protocol):
    """The report tables as the pipeline writes them, inside one report's transaction."""

    async def add_report(self, header: ReportHeader, origin: str) -> int:
        """Insert an aggregate report's row and return its key; a duplicate fails here, before any record."""
        ...

    async def add_records(self, report_pk: int, domain: str, day: date, records: Sequence[Record]) -> None:
        """Insert a batch of the report's records."""
        ...

    async def finish_report(
        self, report_pk: int, record_count: int, message_count: int, notes: Sequence[str] = ()
    ) -> None:
        """Set the report's totals and notes once every record is in."""
        ...

    async def tls_exists(self, org: str, report_id: str) -> bool:
        """True when this TLS report (organization, report id) is stored."""
        ...

    async def add_tls(self, report: TlsReport, domains: set[str], origin: str) -> int:
        """Insert a TLS report with the policies of `domains`."""
        ...

    async def failure_exists(self, fingerprint: str) -> bool:
        """True when a failure report with this fingerprint is stored."""
        ...

    async def add_failure(self, fingerprint: str, report: FailureReport) -> None:
        """Insert a failure report."""
        ...


#: opens one report's transaction: committed when the block ends, rolled back when it raises;
#: DuplicateReport when the store's unique keys refuse the report
Transaction = Callable[[], AbstractAsyncContextManager[ReportStore]]

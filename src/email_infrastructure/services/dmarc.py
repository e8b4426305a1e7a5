"""DMARC and TLS reports: ingest from files, folders and mailboxes; pass-rate alerts.

The pipeline is dmarc/ingest.py; here are its transactions over storage's `DmarcStore` (a
savepoint per report in a batch committed about once a second; a transaction per report for a
mailbox), the enrichment afterwards (reverse DNS of the sources, pass-rate states and their
events). A run acts in one workspace (the chosen one: the CLI's `--workspace`): its reports are
stored there, its domains count as managed, its pass-rate rule is that workspace's and its alerts
go to that workspace's sinks only. Faces (CLI, API, dashboard) call the functions at the bottom;
what they read back (summaries, daily rates, the reports' list) is services/dmarc_views.py.
"""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from email_infrastructure.core.errors import UserError
from email_infrastructure.dmarc.containers import ContainerLimits
from email_infrastructure.dmarc.ingest import IngestItem, Ingestor
from email_infrastructure.dmarc.store import DuplicateReport, ReportStore, Transaction
from email_infrastructure.monitoring.events import DMARC_FAILURE_RATE, DmarcFailureRatePayload
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import load_snapshot
from email_infrastructure.services.uow import UnitOfWork
from email_infrastructure.storage.dmarc_repositories import DmarcStore

#: the check name under which a domain's pass-rate state is kept (edge-triggered alerts)
PASS_RATE_CHECK = "dmarc_pass_rate"  # noqa: S105  # a check name, not a password


@dataclass
class IngestSummary:
    """Every item of a run, the alerts it raised, and what the mailbox side did."""

    items: list[IngestItem] = field(default_factory=list)
    resolved: int = 0
    alerts: list[DmarcFailureRatePayload] = field(default_factory=list)
    mailbox: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        """Items with this status."""
        return sum(1 for i in self.items if i.status == status)

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "ingested": self.count("ingested"),
            "duplicate": self.count("duplicate"),
            "skipped": self.count("skipped"),
            "noted": sum(1 for i in self.items if i.notes and i.status != "skipped"),
            "unmanaged": sum(1 for i in self.items if not i.managed and i.status != "skipped"),
            "items": [asdict(i) for i in self.items],
            "sources_resolved": self.resolved,
            "alerts": [dict(a) for a in self.alerts],
            **({"mailbox": self.mailbox} if self.mailbox else {}),
        }


@dataclass
class IngestOptions:
    """How a run ingests: DNS servers for enrichment, which domains count as ours, alerts."""

    nameservers: list[str] = field(default_factory=list)
    resolve: bool = True
    #: the domains of ours (managed); None: the desired state's domains
    domains: set[str] | None = None
    #: store only reports of managed domains; None: the setting `dmarc_managed_only`
    managed_only: bool | None = None
    alerts: bool = True
    now: datetime | None = None


def container_limits(app: App) -> ContainerLimits:
    """The container limits of the settings."""
    s = app.settings
    return ContainerLimits(
        max_bytes=s.dmarc_max_report_bytes, max_ratio=s.dmarc_max_ratio, max_message_bytes=s.dmarc_max_message_bytes
    )


def report_transaction(app: App) -> Transaction:
    """The pipeline's `Transaction`: one unit of work per report; a unique key's refusal is a duplicate."""

    @asynccontextmanager
    async def transaction() -> AsyncIterator[ReportStore]:
        try:
            async with app.uow() as uow:
                yield DmarcStore(uow.session)
                await uow.commit()
        except IntegrityError:
            raise DuplicateReport from None  # rolled back by the unit of work

    return transaction


class ReportBatch:
    """The pipeline's `Transaction` for many reports: one unit of work, a savepoint per report.

    A duplicate or a bad report rolls back its own savepoint only: the others stay, as they did
    with a transaction each. Commits are what small reports cost (an fsync each on SQLite), so the
    batch commits after `max_reports` reports or once it has held the write lock `max_seconds`,
    and when it ends (`async with`), also when the run fails: what was stored stays stored.
    """

    def __init__(self, app: App, *, max_reports: int = 500, max_seconds: float = 1.0) -> None:
        self.app = app
        self.max_reports = max_reports
        self.max_seconds = max_seconds
        self._uow: UnitOfWork | None = None
        self._reports = 0
        self._opened = 0.0
        #: commits made (a batch's report count is not known before it ends)
        self.commits = 0

    def __call__(self) -> AbstractAsyncContextManager[ReportStore]:
        """One report's savepoint."""
        return self._report()

    @asynccontextmanager
    async def _report(self) -> AsyncIterator[ReportStore]:
        if self._uow is None:
            uow = self.app.uow()
            await uow.__aenter__()
            self._uow, self._opened, self._reports = uow, time.monotonic(), 0
        session = self._uow.session
        try:
            async with session.begin_nested():
                yield DmarcStore(session)
        except IntegrityError:
            raise DuplicateReport from None  # this report's savepoint is rolled back, the batch goes on
        self._reports += 1
        if self._reports >= self.max_reports or time.monotonic() - self._opened >= self.max_seconds:
            await self.commit()

    async def commit(self) -> None:
        """Commit the reports stored so far and end the unit of work (the next report opens another)."""
        uow, self._uow = self._uow, None
        if uow is None:
            return
        try:
            await uow.commit()
            self.commits += 1
        finally:
            await uow.__aexit__(None, None, None)

    async def __aenter__(self) -> ReportBatch:
        return self

    async def __aexit__(self, *_: object) -> None:
        # On an error too: every report whose savepoint was released is complete.
        await self.commit()


async def _ingestor(app: App, options: IngestOptions, transaction: Transaction | None = None) -> Ingestor:
    """A pipeline for the desired state's domains (or the options'); a transaction per report unless given."""
    domains = options.domains
    if domains is None:
        domains = set((await load_snapshot(app)).domains)
    s = app.settings
    return Ingestor(
        transaction or report_transaction(app),
        domains,
        now=options.now or datetime.now(UTC),
        limits=container_limits(app),
        max_count=s.dmarc_max_count,
        managed_only=s.dmarc_managed_only if options.managed_only is None else options.managed_only,
        remember_sources=options.resolve,
    )


async def _finish(app: App, ingestor: Ingestor, options: IngestOptions) -> IngestSummary:
    """Name the sources seen (reverse DNS, once each), then judge the touched domains' pass rates."""
    summary = IngestSummary(items=ingestor.items)
    if options.resolve and ingestor.ips:
        summary.resolved = await resolve_sources(app, sorted(ingestor.ips), options.nameservers)
    if options.alerts and ingestor.touched:
        summary.alerts = await evaluate_pass_rates(app, ingestor.touched, now=ingestor.now)
    return summary


async def resolve_sources(app: App, ips: Sequence[str], nameservers: Sequence[str]) -> int:
    """Reverse DNS of each IP, concurrently (one shared cache), stored; returns how many answered."""
    from email_infrastructure.monitoring.resolver import Resolver

    resolver = Resolver.from_strings(list(nameservers) or app.settings.nameservers, timeout=2.0, attempts=2)

    async def one(ip: str) -> tuple[str, str | None]:
        answer = await resolver.query(ipaddress.ip_address(ip).reverse_pointer, "PTR")
        if answer.found:
            return ip, answer.values()[0].rstrip(".").lower()
        return ip, "" if answer.status.void else None  # None: could not tell, keep what we knew

    try:
        results = await asyncio.gather(*(one(ip) for ip in ips))
    finally:
        await resolver.close()
    names = {ip: name for ip, name in results if name is not None}
    if names:
        async with app.uow() as uow:
            await DmarcStore(uow.session).save_source_names(names)
            await uow.commit()
    return sum(1 for n in names.values() if n)


@dataclass(frozen=True)
class PassRateRule:
    """When a domain's DMARC pass rate alerts: below `threshold` over `window_days`, from `min_messages` on."""

    threshold: float
    window_days: int
    min_messages: int


async def pass_rate_rule(uow: UnitOfWork, app: App) -> PassRateRule:
    """The workspace's rule: its `monitoring.dmarc_alerts`, each field unset there from the settings."""
    from email_infrastructure.services.desired import from_rows

    s = app.settings
    # the settings rows only (no domain): a large workspace's desired state is not read for this
    spec = from_rows(await uow.desired.load(only=[])).inventory().monitoring.dmarc_alerts
    return PassRateRule(
        threshold=s.dmarc_pass_rate_threshold if spec.pass_rate_threshold is None else spec.pass_rate_threshold,
        window_days=spec.window_days or s.dmarc_alert_window_days,
        min_messages=spec.min_messages or s.dmarc_alert_min_messages,
    )


async def workspace_pass_rate_rule(app: App) -> PassRateRule:
    """The chosen workspace's pass-rate rule (what the dashboard colours a day by, and alerts use)."""
    async with app.uow() as uow:
        return await pass_rate_rule(uow, app)


async def evaluate_pass_rates(app: App, domains: Iterable[str], *, now: datetime | None = None) -> list[Any]:
    """Each domain's DMARC pass rate over the workspace's alert window; an event on every change of state."""
    wanted = set(domains)
    published: list[Any] = []
    async with app.uow() as uow:
        rule = await pass_rate_rule(uow, app)
        window, threshold = rule.window_days, rule.threshold
        since = ((now or datetime.now(UTC)) - timedelta(days=window)).date()
        store = DmarcStore(uow.session)
        rows, figures = [], {}
        for domain, messages, passed, _spf, _dkim in await store.totals_by("domain", None, since):
            if domain not in wanted:
                continue
            messages, rate = int(messages), (int(passed) / int(messages) if messages else 1.0)
            figures[domain] = (rate, messages)
            # too few messages to judge: "unknown" changes no state either way
            status = "unknown" if messages < rule.min_messages else "error" if rate < threshold else "ok"
            summary = (
                f"DMARC pass rate {rate:.1%} of {messages:,} messages in the last {window} days "
                f"(threshold {threshold:.0%})"
            )
            rows.append((domain, PASS_RATE_CHECK, status, {"pass_rate": rate, "messages": messages}, summary))
        for change in await uow.checks.record(rows):
            if change.new != "error" and change.old != "error":
                continue
            rate, messages = figures[change.subject]
            payload = DmarcFailureRatePayload(
                subject=change.subject,
                check=PASS_RATE_CHECK,
                status=change.new,
                previous=change.old,
                summary=change.summary,
                pass_rate=round(rate, 4),
                threshold=threshold,
                messages=messages,
                window_days=window,
            )
            uow.emit(DMARC_FAILURE_RATE, payload, source="dmarc")
            published.append(payload)
        await uow.commit()
    return published


class _Alerts:
    """The workspace's alert sinks, subscribed to its pass-rate events for one run (none when alerts are off)."""

    def __init__(self, app: App, enabled: bool) -> None:
        self.app = app
        self.enabled = enabled
        self._detach: Any = None
        self._dispatcher: Any = None

    async def __aenter__(self) -> _Alerts:
        if not self.enabled:
            return self  # no pass rates are judged: neither sinks nor their imports are needed
        sinks = (await load_snapshot(self.app)).inventory().monitoring.alert_sinks
        if sinks:
            # imported only when there are sinks: HTTP clients and the like are a start-up cost
            from email_infrastructure.monitoring.alerts import AlertDispatcher
            from email_infrastructure.monitoring.sinks import build_sink
            from email_infrastructure.services.monitoring import workspace_name

            built = [build_sink(i, s) for i, s in enumerate(sinks)]
            # another workspace's run in this process (an API's upload) alerts its own sinks only
            self._dispatcher = AlertDispatcher(built, workspace=await workspace_name(self.app))
            self._detach = self.app.bus.subscribe(DMARC_FAILURE_RATE.name, self._dispatcher.deliver, queued=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.app.bus.drain()
        if self._detach is not None:
            self._detach()
            await self._dispatcher.close()


_frozen = 0


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    """`gc.freeze()` for a run: the full collections a stream of records triggers skip what was there before.

    Each record leaves a few containers alive until its batch is written; they pile up in the oldest
    generation and set off full collections, each walking every module, mapper and setting of the
    process (0.3 to 0.4 s of a 100,000-record report). Frozen objects are only left out of collections,
    never freed early; they go back when the last concurrent run ends.
    """
    global _frozen
    if _frozen == 0:
        gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if _frozen == 0:
            gc.unfreeze()


# -- what the faces call ---------------------------------------------------------------------------


async def ingest_paths(app: App, paths: Sequence[Path], options: IngestOptions | None = None) -> IngestSummary:
    """Ingest files and folders (XML, JSON, gzip, zip, .eml, mbox, found by content)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}")
    options = options or IngestOptions()
    batch = ReportBatch(app)
    ingestor = await _ingestor(app, options, batch)
    async with _Alerts(app, options.alerts):
        with _long_lived_frozen():
            async with batch:
                for path in paths:
                    await ingestor.take(ingestor.extractor.from_path(path))
        return await _finish(app, ingestor, options)


_UPLOAD_NAME = re.compile(r"[^A-Za-z0-9._-]+")


async def ingest_upload(
    app: App, data: bytes, name: str = "upload", options: IngestOptions | None = None
) -> IngestSummary:
    """Ingest one uploaded file (any container `ingest_paths` reads, found by content) as `upload:NAME`."""
    if not data:
        raise UserError("the upload is empty: send the report file as the request body")
    label = "upload:" + (_UPLOAD_NAME.sub("_", name)[:100] or "upload")
    options = options or IngestOptions()
    batch = ReportBatch(app)
    ingestor = await _ingestor(app, options, batch)
    # A file, so that every container (an mbox too) goes through the very path `dmarc ingest` takes.
    with tempfile.TemporaryDirectory(prefix="dmarc-upload-") as folder:
        path = Path(folder) / "report"
        path.write_bytes(data)
        prefix = len(str(path))
        found = (replace(f, origin=label + f.origin[prefix:]) for f in ingestor.extractor.from_path(path))
        async with _Alerts(app, options.alerts):
            with _long_lived_frozen():
                async with batch:
                    await ingestor.take(found)
            return await _finish(app, ingestor, options)


@dataclass
class ImapRequest:
    """Where the report mailbox is and what to do with processed messages."""

    url: str
    password: str  # an env:NAME reference
    move_to: str | None = None
    ca_file: Path | None = None
    address: str | None = None
    timeout: float = 30.0
    #: reconnections after a dropped connection before the run gives up
    retries: int = 5


async def ingest_imap(app: App, request: ImapRequest, options: IngestOptions | None = None) -> IngestSummary:
    """Ingest every message of an IMAP folder; processed ones move to `move_to`; drops are resumed."""
    # imported here: a run over files (the usual CLI call) needs neither IMAP nor the secret loader
    from email_infrastructure.core.inventory.loader import resolve_secret
    from email_infrastructure.dmarc.imap import ReportMailbox, parse_imap_url
    from email_infrastructure.dmarc.ingest import ingest_mailbox

    location = parse_imap_url(request.url)
    password = resolve_secret(request.password)
    box = ReportMailbox(location, password, ca_file=request.ca_file, address=request.address, timeout=request.timeout)
    options = options or IngestOptions()
    # a transaction per report: a message is moved only once its reports are committed
    ingestor = await _ingestor(app, options)
    async with _Alerts(app, options.alerts):
        stats = await ingest_mailbox(ingestor, box, request.move_to, request.retries)
        summary = await _finish(app, ingestor, options)
    summary.mailbox = stats
    return summary

"""DMARC and TLS reports: ingest from files, folders and mailboxes; summaries; pass-rate alerts.

The pipeline is dmarc/ingest.py; here are its transactions (one per report, over storage's
`DmarcStore`), the enrichment afterwards (reverse DNS of the sources, pass-rate states and their
events) and the summaries. Faces (CLI, API, dashboard) call the functions at the bottom.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.inventory.loader import resolve_secret
from email_infrastructure.dmarc.containers import ContainerLimits
from email_infrastructure.dmarc.imap import ReportMailbox, parse_imap_url
from email_infrastructure.dmarc.ingest import IngestItem, Ingestor, ingest_mailbox, is_managed
from email_infrastructure.dmarc.store import DuplicateReport, ReportStore, Transaction
from email_infrastructure.monitoring.events import DMARC_FAILURE_RATE, DmarcFailureRatePayload
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.desired import load_snapshot
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


async def _ingestor(app: App, options: IngestOptions) -> Ingestor:
    """A pipeline for the desired state's domains (or the options')."""
    domains = options.domains
    if domains is None:
        domains = set((await load_snapshot(app)).domains)
    s = app.settings
    return Ingestor(
        report_transaction(app),
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


async def evaluate_pass_rates(app: App, domains: Iterable[str], *, now: datetime | None = None) -> list[Any]:
    """Each domain's DMARC pass rate over the alert window; an event on every change of state."""
    s = app.settings
    window, threshold = s.dmarc_alert_window_days, s.dmarc_pass_rate_threshold
    since = ((now or datetime.now(UTC)) - timedelta(days=window)).date()
    wanted = set(domains)
    published: list[Any] = []
    async with app.uow() as uow:
        store = DmarcStore(uow.session)
        rows, figures = [], {}
        for domain, messages, passed, _spf, _dkim in await store.totals_by("domain", None, since):
            if domain not in wanted:
                continue
            messages, rate = int(messages), (int(passed) / int(messages) if messages else 1.0)
            figures[domain] = (rate, messages)
            # too few messages to judge: "unknown" changes no state either way
            status = "unknown" if messages < s.dmarc_alert_min_messages else "error" if rate < threshold else "ok"
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
    """The desired state's alert sinks, subscribed to the pass-rate topic for one run."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._detach: Any = None
        self._dispatcher: Any = None

    async def __aenter__(self) -> _Alerts:
        from email_infrastructure.monitoring.alerts import AlertDispatcher
        from email_infrastructure.monitoring.sinks import build_sink

        sinks = (await load_snapshot(self.app)).inventory().monitoring.alert_sinks
        if sinks:
            self._dispatcher = AlertDispatcher([build_sink(i, s) for i, s in enumerate(sinks)])
            self._detach = self.app.bus.subscribe(DMARC_FAILURE_RATE.name, self._dispatcher.deliver, queued=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.app.bus.drain()
        if self._detach is not None:
            self._detach()
            await self._dispatcher.close()


# -- what the faces call ---------------------------------------------------------------------------


async def ingest_paths(app: App, paths: Sequence[Path], options: IngestOptions | None = None) -> IngestSummary:
    """Ingest files and folders (XML, JSON, gzip, zip, .eml, mbox, found by content)."""
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise UserError(f"no such file or folder: {', '.join(missing)}")
    options = options or IngestOptions()
    ingestor = await _ingestor(app, options)
    async with _Alerts(app):
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
    ingestor = await _ingestor(app, options)
    # A file, so that every container (an mbox too) goes through the very path `dmarc ingest` takes.
    with tempfile.TemporaryDirectory(prefix="dmarc-upload-") as folder:
        path = Path(folder) / "report"
        path.write_bytes(data)
        prefix = len(str(path))
        found = (replace(f, origin=label + f.origin[prefix:]) for f in ingestor.extractor.from_path(path))
        async with _Alerts(app):
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
    location = parse_imap_url(request.url)
    password = resolve_secret(request.password)
    box = ReportMailbox(location, password, ca_file=request.ca_file, address=request.address, timeout=request.timeout)
    options = options or IngestOptions()
    ingestor = await _ingestor(app, options)
    async with _Alerts(app):
        stats = await ingest_mailbox(ingestor, box, request.move_to, request.retries)
        summary = await _finish(app, ingestor, options)
    summary.mailbox = stats
    return summary


# -- summaries -------------------------------------------------------------------------------------

_SINCE = re.compile(r"^(\d{1,4})([dw])$")


def parse_since(text: str | None, today: date | None = None) -> date | None:
    """`30d`, `2w` → the first day counted; None or `all` → no limit."""
    if not text or text == "all":
        return None
    match = _SINCE.match(text.strip().lower())
    if not match:
        raise UserError(f"--since {text!r}: write a number of days or weeks, e.g. 30d or 2w (or all)")
    days = int(match.group(1)) * (7 if match.group(2) == "w" else 1)
    return (today or datetime.now(UTC).date()) - timedelta(days=days)


@dataclass
class Totals:
    """Messages of one source, organisation or domain, and how many passed what."""

    key: str
    messages: int
    dmarc_pass: int
    spf_aligned: int
    dkim_aligned: int
    reverse_dns: str = ""
    ours: bool = False
    #: the domain section: a domain of the desired state (or a subdomain of one); True elsewhere
    managed: bool = True

    @property
    def failing(self) -> int:
        """Messages that failed DMARC."""
        return self.messages - self.dmarc_pass

    def rate(self, passed: int) -> float:
        """A share of the messages (1.0 when there are none)."""
        return passed / self.messages if self.messages else 1.0

    def to_json(self) -> dict[str, Any]:
        """Plain data with rates."""
        return {
            "key": self.key,
            "messages": self.messages,
            "dmarc_pass_rate": round(self.rate(self.dmarc_pass), 4),
            "spf_aligned_rate": round(self.rate(self.spf_aligned), 4),
            "dkim_aligned_rate": round(self.rate(self.dkim_aligned), 4),
            "failing": self.failing,
            "reverse_dns": self.reverse_dns,
            "ours": self.ours,
            "managed": self.managed,
        }


@dataclass
class DmarcSummary:
    """What `dmarc summary` shows (and the API's panel will)."""

    domain: str | None
    since: date | None
    reports: int
    failure_reports: int
    domains: list[Totals]
    sources: list[Totals]
    organisations: list[Totals]
    tls_sessions: tuple[int, int]
    tls_failures: list[tuple[str, int]]

    @property
    def unknown_senders(self) -> list[Totals]:
        """Sources that are not our servers and had messages fail DMARC."""
        return [s for s in self.sources if not s.ours and s.failing]

    @property
    def our_failing(self) -> list[Totals]:
        """Our own servers' IPs with messages failing DMARC."""
        return [s for s in self.sources if s.ours and s.failing]

    @property
    def unmanaged_domains(self) -> list[str]:
        """Domains with reports that are not domains of the desired state."""
        return [d.key for d in self.domains if not d.managed]

    def to_json(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "domain": self.domain,
            "since": self.since.isoformat() if self.since else None,
            "reports": self.reports,
            "failure_reports": self.failure_reports,
            "domains": [t.to_json() for t in self.domains],
            "sources": [t.to_json() for t in self.sources],
            "organisations": [t.to_json() for t in self.organisations],
            "unknown_senders": [t.key for t in self.unknown_senders],
            "our_servers_failing": [t.key for t in self.our_failing],
            "unmanaged_domains": self.unmanaged_domains,
            "tls": {
                "successful_sessions": self.tls_sessions[0],
                "failed_sessions": self.tls_sessions[1],
                "failures_by_type": dict(self.tls_failures),
            },
        }


def _totals(rows: Iterable[tuple[Any, ...]]) -> list[Totals]:
    return [Totals(str(k), int(m), int(d), int(s), int(k2)) for k, m, d, s, k2 in rows]


async def dmarc_summary(app: App, domain: str | None = None, since: date | None = None) -> DmarcSummary:
    """Volume and pass rates per domain, sending source and reporting organisation; TLS failures."""
    await require_state(app)
    domain = domain.lower().rstrip(".") if domain else None
    snapshot = await load_snapshot(app)
    inventory = snapshot.inventory()
    ours = {ip for server in inventory.servers for ip in server.ips}
    managed = {d.lower().rstrip(".") for d in snapshot.domains}
    async with app.uow() as uow:
        store = DmarcStore(uow.session)
        domains = _totals(await store.totals_by("domain", domain, since))
        sources = _totals(await store.totals_by("source_ip", domain, since))
        organisations = _totals(await store.totals_by("org", domain, since))
        names = await store.source_names(s.key for s in sources)
        moment = datetime.combine(since, datetime.min.time(), UTC) if since else None
        reports, failures = await store.report_counts(domain, moment)
        tls_sessions = await store.tls_sessions(domain, since)
        tls_failures = await store.tls_failures(domain, since)
    for source in sources:
        source.reverse_dns, source.ours = names.get(source.key, ""), source.key in ours
    for totals in domains:
        totals.managed = is_managed(totals.key, managed)
    return DmarcSummary(domain, since, reports, failures, domains, sources, organisations, tls_sessions, tls_failures)


# -- the API's and the dashboard's views -----------------------------------------------------------


@dataclass
class DayRates:
    """One domain's messages on one day (the reports' first day) and how many passed what."""

    domain: str
    day: date
    messages: int
    dmarc_pass: int
    spf_aligned: int
    dkim_aligned: int

    def rate(self, passed: int) -> float:
        """A share of the day's messages (1.0 when there are none)."""
        return passed / self.messages if self.messages else 1.0

    def to_json(self) -> dict[str, Any]:
        """Plain data with rates."""
        return {
            "domain": self.domain,
            "day": self.day.isoformat(),
            "messages": self.messages,
            "dmarc_pass_rate": round(self.rate(self.dmarc_pass), 4),
            "spf_aligned_rate": round(self.rate(self.spf_aligned), 4),
            "dkim_aligned_rate": round(self.rate(self.dkim_aligned), 4),
        }


async def daily_pass_rates(app: App, domain: str | None = None, since: date | None = None) -> list[DayRates]:
    """DMARC, SPF-aligned and DKIM-aligned passes per domain per day, oldest day first."""
    await require_state(app)
    domain = domain.lower().rstrip(".") if domain else None
    async with app.uow() as uow:
        rows = await DmarcStore(uow.session).totals_by_day(domain, since)
    return [
        DayRates(str(d), day if isinstance(day, date) else date.fromisoformat(str(day)), *(int(n) for n in rest))
        for d, day, *rest in rows
    ]


@dataclass
class ReportInfo:
    """An aggregate report's metadata (not its records)."""

    org: str
    report_id: str
    domain: str
    email: str
    schema: str
    begin: datetime
    end: datetime
    records: int
    messages: int
    origin: str
    ingested_at: datetime
    #: what was odd about it: repaired XML, bytes after the gzip data, dates before DMARC existed
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain data, times in ISO 8601."""
        data = asdict(self)
        for name in ("begin", "end", "ingested_at"):
            data[name] = getattr(self, name).isoformat()
        return data


async def list_reports(
    app: App, domain: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[ReportInfo], int]:
    """A page of the stored aggregate reports, newest period first, and the total."""
    domain = domain.lower().rstrip(".") if domain else None
    async with app.uow() as uow:
        rows, total = await DmarcStore(uow.session).reports_page(domain, limit, offset)
        items = [
            ReportInfo(
                r.org_name,
                r.report_id,
                r.domain,
                r.email,
                r.schema,
                r.begin,
                r.end,
                r.record_count,
                r.message_count,
                r.origin,
                r.ingested_at,
                list(r.notes or []),
            )
            for r in rows
        ]
    return items, total

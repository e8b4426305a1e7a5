"""DMARC and TLS reports as read back: summaries per domain, source and organisation, daily pass
rates, the stored reports' metadata (services/dmarc.py stores them; faces read them through these)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from email_infrastructure.core.errors import UserError
from email_infrastructure.dmarc.ingest import is_managed
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.desired import load_snapshot
from email_infrastructure.storage.dmarc_repositories import DmarcStore

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


def _suffixes(name: str) -> list[str]:
    """`a.b.example.com` and every parent domain of it: the names it is managed under, if any."""
    labels = name.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)]


async def dmarc_summary(app: App, domain: str | None = None, since: date | None = None) -> DmarcSummary:
    """Volume and pass rates per domain, sending source and reporting organisation; TLS failures."""
    await require_state(app)
    domain = domain.lower().rstrip(".") if domain else None
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
    # one domain's summary (its page) reads the desired domains it could belong to, not the fleet's
    only = sorted({suffix for t in domains for suffix in _suffixes(t.key)}) if domain else None
    snapshot = await load_snapshot(app, only=only)
    ours = {ip for server in snapshot.inventory().servers for ip in server.ips}
    managed = {d.lower().rstrip(".") for d in snapshot.domains}
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

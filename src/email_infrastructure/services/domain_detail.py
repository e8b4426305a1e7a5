"""A domain's page as one read model: served by the dashboard's domain page and `GET /api/v1/domains/{name}`.

The API serves its summary (view and status, read by key); the dashboard serves every section:
desired records against live ones, check states with their findings and history, the DMARC
panel's data and the mailboxes' states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from email_infrastructure.monitoring.findings import hint
from email_infrastructure.services.app import App
from email_infrastructure.services.check_timeline import Timeline, check_timeline
from email_infrastructure.services.dmarc import workspace_pass_rate_rule
from email_infrastructure.services.domains import DomainView, domain_inventory, domain_summary
from email_infrastructure.services.overview import CheckView, domain_checks
from email_infrastructure.services.record_sources import RecordRow, Source, add_dns_answers, record_rows

if TYPE_CHECKING:
    from email_infrastructure.services.dmarc_views import DayRates, DmarcSummary

#: the DMARC section covers this many days, today included
DMARC_DAYS = 30


@dataclass
class DmarcData:
    """The DMARC section's figures: the summary and the daily pass rates of `first`..`last`."""

    summary: DmarcSummary
    days: list[DayRates]
    first: date
    last: date
    threshold: float


@dataclass
class DomainDetail:
    """One domain: its view and status, and (with `sections`) everything its page shows."""

    view: DomainView
    status: str
    ip: str | None = None
    records: list[RecordRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: why the provider's records could not be read (None: they were)
    live_error: str | None = None
    #: the records' columns: desired, at the provider, DNS answer
    sources: list[Source] = field(default_factory=list)
    checks: list[CheckView] = field(default_factory=list)
    #: errors and warnings of the latest checks, each with its fix, check and subject
    findings: list[dict[str, Any]] = field(default_factory=list)
    groups: list[FindingGroup] = field(default_factory=list)
    timeline: Timeline | None = None
    #: (address, state of its mailbox check, `none` when never checked)
    mailboxes: list[tuple[str, str]] = field(default_factory=list)
    dmarc: DmarcData | None = None


@dataclass
class FindingGroup:
    """The findings of one id: its worst severity, its fix, and each one (subject, check, message, evidence)."""

    id: str
    severity: str
    hint: str
    items: list[dict[str, Any]]

    @property
    def where(self) -> str:
        """`subject · check` when every finding of the group has the same ones, else ''."""
        places = {(str(f.get("subject", "")), str(f.get("check", ""))) for f in self.items}
        return " · ".join(next(iter(places))) if len(places) == 1 else ""


def group_findings(findings: list[dict[str, Any]]) -> list[FindingGroup]:
    """Findings by id, errors first, then the largest groups: 70 `drift.missing` are one group."""
    groups: dict[str, FindingGroup] = {}
    for f in findings:
        key = str(f.get("id", ""))
        group = groups.setdefault(key, FindingGroup(key, str(f.get("severity", "")), str(f.get("hint") or ""), []))
        if f.get("severity") == "error":
            group.severity = "error"
        group.hint = group.hint or str(f.get("hint") or "")
        group.items.append(f)
    rank = {"error": 0, "warning": 1}
    return sorted(groups.values(), key=lambda g: (rank.get(g.severity, 2), -len(g.items), g.id))


async def domain_detail(app: App, name: str, *, sections: bool = True) -> DomainDetail:
    """One domain read by key; with `sections` its records diff (a live read), checks, DMARC and mailboxes."""
    summary = await domain_summary(app, name)
    detail = DomainDetail(summary.view, summary.status)
    if not sections:
        return detail
    inventory, view = await domain_inventory(app, name)  # this domain's desired state alone, by key
    from email_infrastructure.services.dmarc_views import daily_pass_rates, dmarc_summary
    from email_infrastructure.services.records import desired_records, live_drift

    zone = await desired_records(app, view.name, inventory=inventory)
    read_at = datetime.now(UTC)
    drift = await live_drift(app, view.name, inventory=inventory)
    detail.live_error = drift.error
    detail.records = record_rows(zone.records, drift.changes, detail.live_error is None)
    detail.notes = zone.notes
    server = inventory.server(view.spec["server"]) if view.spec.get("server") else None
    detail.ip = str(server.ipv4) if server is not None and server.ipv4 else None
    subjects = [view.name, *([detail.ip] if detail.ip else []), *view.mailboxes]
    detail.checks = await domain_checks(app, subjects)
    dns = next((c for c in detail.checks if c.subject == view.name and c.check == "drift"), None)
    add_dns_answers(detail.records, dns.findings if dns is not None else None)
    provider = view.spec.get("dns_provider") or "the DNS provider"
    detail.sources = [
        Source("Desired", "the stored desired state (inventory)", read_at),
        Source("At the provider", f"{provider}'s API, as the plan reads it", read_at, drift.error),
        Source(
            "DNS answer",
            "a DNS query by the monitoring's drift check",
            dns.checked_at if dns is not None else None,
            None if dns is not None else "no drift check has run for this domain yet",
        ),
    ]
    detail.findings = [
        {**f, "hint": f.get("hint") or hint(str(f.get("id", ""))), "check": c.check, "subject": c.subject}
        for c in detail.checks
        for f in c.findings
        if f.get("severity") in ("error", "warning")
    ]
    detail.groups = group_findings(detail.findings)
    detail.timeline = await check_timeline(app, subjects)
    mailbox_states = {c.subject: c.status for c in detail.checks if c.check == "mailbox"}
    detail.mailboxes = [(m, mailbox_states.get(m, "none")) for m in view.mailboxes]
    last = date.today()
    first = last - timedelta(days=DMARC_DAYS - 1)
    detail.dmarc = DmarcData(
        await dmarc_summary(app, view.name, first),
        await daily_pass_rates(app, view.name, first),
        first,
        last,
        (await workspace_pass_rate_rule(app)).threshold,
    )
    return detail


__all__ = [
    "DMARC_DAYS",
    "DmarcData",
    "DomainDetail",
    "FindingGroup",
    "RecordRow",
    "domain_detail",
    "group_findings",
    "record_rows",
]

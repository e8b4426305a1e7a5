"""A domain's page as one read model: served by the dashboard's domain page and `GET /api/v1/domains/{name}`.

The API serves its summary (view and status, read by key); the dashboard serves every section:
desired records against live ones, check states with their findings and history, the DMARC
panel's data and the mailboxes' states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from email_infrastructure.monitoring.findings import hint
from email_infrastructure.services.app import App
from email_infrastructure.services.dmarc import workspace_pass_rate_rule
from email_infrastructure.services.domains import DomainView, domain_inventory, domain_summary
from email_infrastructure.services.overview import CheckView, domain_checks

if TYPE_CHECKING:
    from email_infrastructure.services.dmarc_views import DayRates, DmarcSummary

#: the DMARC section covers this many days, today included
DMARC_DAYS = 30


@dataclass
class RecordRow:
    """A desired record against the live one: `in sync`, `not read`, `missing`, `different`, `to delete`."""

    name: str
    type: str
    desired: list[str]
    live: list[str]
    state: str


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
    #: why the live records could not be read (None: they were)
    live_error: str | None = None
    checks: list[CheckView] = field(default_factory=list)
    #: errors and warnings of the latest checks, each with its fix, check and subject
    findings: list[dict[str, Any]] = field(default_factory=list)
    #: (address, state of its mailbox check, `none` when never checked)
    mailboxes: list[tuple[str, str]] = field(default_factory=list)
    dmarc: DmarcData | None = None


def record_rows(desired: list[Any], changes: list[dict[str, Any]], live_read: bool) -> list[RecordRow]:
    """Desired records against live ones: in sync, missing, different; live-only records we own last."""
    by_key = {(c["name"], c["type"]): c for c in changes}
    rows = []
    for record in desired:
        change = by_key.pop((record.name, record.type), None)
        if change is None:
            state, live = ("in sync" if live_read else "not read"), list(record.values) if live_read else []
        elif change["action"] == "create":
            state, live = "missing", []
        else:
            state, live = "different", list((change.get("old") or {}).get("values", []))
        rows.append(RecordRow(record.name, record.type, list(record.values), live, state))
    for change in by_key.values():
        old = (change.get("old") or {}).get("values", [])
        state = "to delete" if change["action"] == "delete" else change["action"]
        new = (change.get("new") or {}).get("values", [])
        rows.append(RecordRow(change["name"], change["type"], new, old, state))
    return rows


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
    drift = await live_drift(app, view.name)
    detail.live_error = drift.error
    detail.records = record_rows(zone.records, drift.changes, detail.live_error is None)
    detail.notes = zone.notes
    server = inventory.server(view.spec["server"]) if view.spec.get("server") else None
    detail.ip = str(server.ipv4) if server is not None and server.ipv4 else None
    detail.checks = await domain_checks(app, [view.name, *([detail.ip] if detail.ip else []), *view.mailboxes])
    detail.findings = [
        {**f, "hint": f.get("hint") or hint(str(f.get("id", ""))), "check": c.check, "subject": c.subject}
        for c in detail.checks
        for f in c.findings
        if f.get("severity") in ("error", "warning")
    ]
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


__all__ = ["DMARC_DAYS", "DmarcData", "DomainDetail", "RecordRow", "domain_detail", "record_rows"]

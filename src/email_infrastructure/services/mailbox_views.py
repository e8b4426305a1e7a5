"""The mailboxes as the dashboard reads them: a fleet-wide list and one mailbox's page.

Built from the desired state's mailbox rows, the stored `mailbox` (login) check states and each
sequencer's last stored reading (the `sequencer` family's latest result, one query a page); the
vault is never read, so no password can reach a page. Send-tests (services/mailbox_send.py) are
not stored anywhere yet, so there is no "last send-test" to show: `SEND_TEST_NOTE` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.monitoring.findings import hint
from email_infrastructure.services.app import App
from email_infrastructure.services.overview import CheckView, domain_checks
from email_infrastructure.storage.mailbox_repositories import LOGIN_CHECK, SEQUENCER_CHECK, MailboxRow, MailboxViews

#: the login status filter's values: the stored states, and `none` for a mailbox never checked
STATUSES = ("error", "unknown", "warning", "ok", "none")
#: what the list and the page say about send-tests
SEND_TEST_NOTE = "send-test results are not stored (run `email-infra mailbox send-test`)"


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


@dataclass
class MailboxItem:
    """A mailbox of the list: address, domain, server and its login-check status (`none`: never checked)."""

    address: str
    name: str
    domain: str
    server: str | None
    hostname: str | None
    status: str
    summary: str
    checked_at: datetime | None
    owner: str
    #: each sequencer's last stored reading of the mailbox: (sequencer, state, detail); state is a
    #: health state or `missing` (not on the platform). Empty: no sequencer, or never checked
    sequencers: list[tuple[str, str, str]] = field(default_factory=list)

    @classmethod
    def of(cls, row: MailboxRow, stored: dict[str, Any] | None = None) -> MailboxItem:
        """From a stored row (and its `sequencer` check's stored result, when there is one)."""
        readings = (stored or {}).get("sequencers") or []
        return cls(
            row.address,
            f"{row.first_name} {row.last_name}".strip(),
            row.domain,
            row.server,
            row.hostname,
            row.status or "none",
            row.summary if row.status else "",
            _aware(row.checked_at),
            row.managed_by,
            [(str(r.get("sequencer")), str(r.get("state")), str(r.get("detail") or "")) for r in readings],
        )


@dataclass
class MailboxList:
    """A page of mailboxes, how many match the filters, and the filters' options."""

    items: list[MailboxItem]
    matching: int
    domains: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)


async def mailbox_list(
    app: App,
    *,
    domain: str = "",
    server: str = "",
    status: str = "",
    search: str = "",
    limit: int = 50,
    offset: int = 0,
) -> MailboxList:
    """Mailboxes of the workspace by address, filtered by domain, server, login status and a search."""
    if status and status not in STATUSES:
        raise UserError(f"unknown status {status!r} (one of {', '.join(STATUSES)})")
    if limit < 1 or offset < 0:
        raise UserError("limit must be at least 1 and offset at least 0")
    if not app.has_state():
        return MailboxList([], 0)
    async with app.uow() as uow:
        views = MailboxViews(uow.session)
        rows, total = await views.page(
            domain=domain.strip().lower().rstrip(".") or None,
            server=server.strip() or None,
            status=status or None,
            search=search.strip().lower(),
            limit=limit,
            offset=offset,
        )
        # one query for the page's sequencer readings (stored by the monitoring family: no platform call)
        stored = await views.latest_results(SEQUENCER_CHECK, [r.address for r in rows])
        domains, servers = await views.choices()
    items = [MailboxItem.of(r, stored[r.address].findings if r.address in stored else None) for r in rows]
    return MailboxList(items, total, domains, servers)


@dataclass
class MailboxDetail:
    """One mailbox: its row, its checks with their latest findings (each with its fix) and history."""

    mailbox: MailboxItem
    checks: list[CheckView]
    findings: list[dict[str, Any]]


async def mailbox_detail(app: App, address: str) -> MailboxDetail:
    """One mailbox of the workspace by address; NotFoundError when it has none by that address."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not (local and at and domain) or not app.has_state():
        raise NotFoundError(f"no mailbox {address!r}")
    async with app.uow() as uow:
        row = await MailboxViews(uow.session).one(local, domain.rstrip("."))
    if row is None:
        raise NotFoundError(f"no mailbox {address!r}")
    checks = await domain_checks(app, [row.address])
    findings = [
        {**f, "hint": f.get("hint") or hint(str(f.get("id", ""))), "check": c.check}
        for c in checks
        for f in c.findings
        if f.get("severity") in ("error", "warning")
    ]
    return MailboxDetail(MailboxItem.of(row), checks, findings)


__all__ = [
    "LOGIN_CHECK",
    "SEND_TEST_NOTE",
    "STATUSES",
    "MailboxDetail",
    "MailboxItem",
    "MailboxList",
    "mailbox_detail",
    "mailbox_list",
]

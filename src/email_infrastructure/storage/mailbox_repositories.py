"""The mailbox list's queries: every mailbox row with its domain, its server and its login-check state.

Bound to one session (and so to its workspace, storage/scoping.py), never committing. Filters,
order and paging are done in SQL; no column of the vault (`secrets`) is ever selected here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from email_infrastructure.storage.models import CheckResultRecord, CheckState, DesiredSetting, Domain, Mailbox, Server

#: the check whose state is a mailbox's login status (services/monitoring.py stores it per address)
LOGIN_CHECK = "mailbox"
#: the check whose result holds each sequencer's reading of a mailbox (services/sequencer_health.py)
SEQUENCER_CHECK = "sequencer"


@dataclass(frozen=True)
class MailboxRow:
    """One mailbox as the list shows it: no credential is part of it."""

    address: str
    local_part: str
    first_name: str
    last_name: str
    domain: str
    managed_by: str
    server: str | None
    hostname: str | None
    #: the login check's state; None: never checked
    status: str | None
    summary: str
    checked_at: datetime | None
    since: datetime | None


@dataclass(frozen=True)
class LatestResult:
    """A subject's latest stored result of one check: its JSON (docs/audit-format.md) and when."""

    findings: dict[str, Any]
    checked_at: datetime


class MailboxViews:
    """Mailboxes of the session's workspace, filtered and paged in SQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _default_server_id(self) -> int | None:
        """The server of the `defaults` setting: a domain without its own server is on it."""
        value = await self._session.scalar(select(DesiredSetting.value).where(DesiredSetting.key == "defaults"))
        name = (value or {}).get("server")
        if not name:
            return None
        found: int | None = await self._session.scalar(select(Server.id).where(Server.name == str(name)))
        return found

    async def _base(self) -> Select[*tuple[Any, ...]]:
        address = Mailbox.local_part + "@" + Domain.name
        server_id: ColumnElement[int | None] = func.coalesce(Domain.server_id, await self._default_server_id())
        return (
            select(
                address.label("address"),
                Mailbox.local_part,
                Mailbox.first_name,
                Mailbox.last_name,
                Domain.name.label("domain"),
                Mailbox.managed_by,
                Server.name.label("server"),
                Server.hostname,
                CheckState.status,
                CheckState.summary,
                CheckState.checked_at,
                CheckState.since,
            )
            .join(Domain, Domain.id == Mailbox.domain_id)
            .outerjoin(Server, Server.id == server_id)
            .outerjoin(CheckState, and_(CheckState.subject == address, CheckState.check == LOGIN_CHECK))
        )

    async def page(
        self,
        *,
        domain: str | None = None,
        server: str | None = None,
        status: str | None = None,
        search: str = "",
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[MailboxRow], int]:
        """A page of mailboxes by address (domain, then local part) and how many match the filters.

        `status` is a stored state (`ok`, `warning`, `error`, `unknown`) or `none` (never checked).
        """
        query = await self._base()
        if domain:
            query = query.where(Domain.name == domain)
        if server:
            query = query.where(Server.name == server)
        if status == "none":
            query = query.where(CheckState.status.is_(None))
        elif status:
            query = query.where(CheckState.status == status)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            needle = f"%{escaped}%"
            query = query.where((Mailbox.local_part + "@" + Domain.name).like(needle, escape="\\"))
        total = int(await self._session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = (
            await self._session.execute(query.order_by(Domain.name, Mailbox.local_part).limit(limit).offset(offset))
        ).all()
        return [MailboxRow(*row) for row in rows], total

    async def one(self, local_part: str, domain: str) -> MailboxRow | None:
        """One mailbox by its address's parts (None: no such mailbox in this workspace)."""
        query = (await self._base()).where(Mailbox.local_part == local_part, Domain.name == domain)
        row = (await self._session.execute(query)).first()
        return MailboxRow(*row) if row is not None else None

    async def latest_results(self, check: str, subjects: list[str]) -> dict[str, LatestResult]:
        """The latest `check` result of each of `subjects` (one query, a page's worth).

        The latest result is the one stored with its state's `checked_at` (the history and the state are
        written with one timestamp): matching on it reads one row per subject, where "the newest row of
        the subject" would read its whole history, which grows every interval.
        """
        if not subjects:
            return {}
        query = (
            select(CheckResultRecord.subject, CheckResultRecord.findings, CheckResultRecord.checked_at)
            .join(
                CheckState,
                and_(
                    CheckState.subject == CheckResultRecord.subject,
                    CheckState.check == CheckResultRecord.check,
                    CheckState.checked_at == CheckResultRecord.checked_at,
                ),
            )
            .where(CheckState.check == check, CheckState.subject.in_(sorted(set(subjects))))
            .order_by(CheckResultRecord.id)
        )
        found = (await self._session.execute(query)).all()
        return {subject: LatestResult(dict(findings or {}), checked_at) for subject, findings, checked_at in found}

    async def choices(self) -> tuple[list[str], list[str]]:
        """The filters' options: the domains that have mailboxes, and every server, by name."""
        domains = await self._session.scalars(
            select(Domain.name).join(Mailbox, Mailbox.domain_id == Domain.id).distinct().order_by(Domain.name)
        )
        servers = await self._session.scalars(select(Server.name).order_by(Server.name))
        return list(domains.all()), list(servers.all())


__all__ = ["LOGIN_CHECK", "SEQUENCER_CHECK", "LatestResult", "MailboxRow", "MailboxViews"]

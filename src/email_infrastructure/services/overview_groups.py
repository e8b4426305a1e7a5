"""The overview's grouped findings: each current error or warning cause once, with how many domains it touches.

A server IP's failing check (a blocklisting, a PTR) is one cause for every domain on the server: one row
per (check, IP) with the finding ids of its latest result and the count of the server's domains. The
failing checks of domains and mailboxes are grouped per (check, status), counted per subject. Counted in
SQL, the top `limit` of each read; the finding ids come from the latest result of the server rows only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, func, select

from email_infrastructure.services.app import App
from email_infrastructure.storage.models import CheckResultRecord, CheckState, DomainStatus, Server
from email_infrastructure.storage.overview_rows import COLUMN_CHECKS, RANK

#: the statuses a group is made of, worst first
FAILING = ("error", "warning")
_COLUMN_OF = {check: key for key, checks in COLUMN_CHECKS.items() for check in checks}


@dataclass
class FindingGroup:
    """One cause and its blast radius; `server` is set for a server IP's check, else `column` for a filter link."""

    check: str
    status: str
    domains: int
    subject: str | None = None
    server: str | None = None
    summary: str = ""
    #: the finding ids of the latest result, with how many times each occurs (two lists: dnsbl.listed twice)
    findings: list[tuple[str, int]] = field(default_factory=list)
    #: the overview column the check fills (a filtered overview link), None when it fills none
    column: str | None = None


def _worst() -> Any:
    return case(*((CheckState.status == s, RANK[s]) for s in FAILING), else_=0).desc()


async def finding_groups(app: App, limit: int = 8) -> list[FindingGroup]:
    """The current failing causes, errors first then by domains touched; at most `limit` of each kind."""
    if not app.has_state():
        return []
    async with app.uow() as uow:
        s = uow.session
        # the failing states of server IPs (a handful), then each server's domains counted on its index
        per_server = (
            select(CheckState.check, CheckState.status, CheckState.subject, CheckState.summary, Server.id, Server.name)
            .join(Server, Server.ipv4 == CheckState.subject)
            .where(CheckState.status.in_(FAILING))
        )
        failing = (await s.execute(per_server)).all()
        counted = select(DomainStatus.server_id, func.count()).group_by(DomainStatus.server_id)
        on_server = dict((await s.execute(counted.where(DomainStatus.server_id.in_({r[4] for r in failing})))).all())
        groups = [
            FindingGroup(check, status, int(on_server.get(sid, 0)), ip, server, summary, column=_COLUMN_OF.get(check))
            for check, status, ip, summary, sid, server in failing
        ]
        rank = {status: i for i, status in enumerate(FAILING)}
        groups = sorted(groups, key=lambda g: (rank[g.status], -g.domains, g.subject or ""))[:limit]
        for group in groups:
            latest = await s.scalar(
                select(CheckResultRecord.findings)
                .where(CheckResultRecord.subject == group.subject, CheckResultRecord.check == group.check)
                .order_by(CheckResultRecord.id.desc())
                .limit(1)
            )
            found = (latest or {}).get("findings", [])
            ids = Counter(str(f.get("id")) for f in found if isinstance(f, dict) and f.get("severity") in FAILING)
            group.findings = sorted(ids.items())
        servers = select(Server.ipv4).where(Server.ipv4.is_not(None))
        per_check = (
            select(CheckState.check, CheckState.status, func.count())
            .where(CheckState.status.in_(FAILING), CheckState.subject.not_in(servers))
            .group_by(CheckState.check, CheckState.status)
            .order_by(_worst(), func.count().desc(), CheckState.check)
            .limit(limit)
        )
        for check, status, n in (await s.execute(per_check)).all():
            groups.append(FindingGroup(check, status, int(n), column=_COLUMN_OF.get(check)))
    order = {s: i for i, s in enumerate(FAILING)}
    return sorted(groups, key=lambda g: (order[g.status], -g.domains, g.check, g.subject or ""))


__all__ = ["FAILING", "FindingGroup", "finding_groups"]

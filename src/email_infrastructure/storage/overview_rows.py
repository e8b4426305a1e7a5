"""The overview's per-domain rows (`domain_status`), kept equal to what `check_states` say.

A row is recomputed by one INSERT … SELECT over the domain's subjects (its name, its server's IP, its
mailboxes' addresses) joined to their check states, wherever those inputs change: check states are
written (`CheckHistory.record` calls `refresh_checked`), and domains, mailboxes and servers flushed
by the ORM (the `after_flush` hook below). A server IP's state fans out to every domain on the
server, so it is recomputed only when that state changes (a transition), not on each check.
Statements run on the session's connection (Core, below the workspace hook of storage/scoping.py):
they name the domains they recompute, and those ids are the session's workspace's.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, case, delete, event, func, insert, literal, or_, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.orm.attributes import get_history

from email_infrastructure.storage.models import CheckState, Domain, DomainStatus, Mailbox, Server

#: the overview's columns (`DomainStatus` attributes) and the checks whose worst state fills each
COLUMN_CHECKS: dict[str, tuple[str, ...]] = {
    "drift": ("drift",),
    "spf": ("spf",),
    "dkim": ("dkim",),
    "dmarc": ("dmarc",),
    "dnsbl": ("dnsbl",),
    "tls": ("tls",),
    "mailbox": ("mailbox",),
    "registration": ("registration", "expiry"),
    "delegation": ("delegation",),
    "sequencer": ("sequencer",),
}
#: a state's rank; a cell never checked is 0 (`none`), a row's status is its worst cell
RANK = {"none": 0, "ok": 1, "warning": 2, "unknown": 3, "error": 4}
STATUS_OF = {rank: status for status, rank in RANK.items()}
_TABLE: Any = DomainStatus.__table__
#: recompute these domains by id in statements of at most this many (drivers bind a few thousand)
_CHUNK = 500


def _subjects(where: Any) -> Any:
    """(domain id, workspace, name, server, DNS provider, subject, own) of the chosen domains: `own` 0 for
    the server's IP."""

    def of(subject: Any, own: int) -> Any:
        return select(
            Domain.id.label("domain_id"),
            Domain.workspace_id.label("workspace_id"),
            Domain.name.label("name"),
            Domain.server_id.label("server_id"),
            Domain.dns_provider.label("dns_provider"),
            subject.label("subject"),
            literal(own).label("own"),
        )

    address = Mailbox.local_part.concat("@").concat(Domain.name)
    ip = of(Server.ipv4, 0).join(Server, Server.id == Domain.server_id).where(Server.ipv4.is_not(None))
    boxes = of(address, 1).join(Mailbox, Mailbox.domain_id == Domain.id)
    union = union_all(of(Domain.name, 1).where(where), ip.where(where), boxes.where(where))
    return union.subquery("subjects")


def rows_select(where: Any) -> Any:
    """The rows of the domains `where` selects, as `domain_status` keeps them (what `refresh` writes)."""
    sub = _subjects(where)
    domain_id, workspace_id, name, server_id, provider, subject, own = sub.c
    rank = case(*((CheckState.status == s, r) for s, r in RANK.items() if r), else_=0)

    def worst(checks: Iterable[str]) -> Any:
        return func.coalesce(func.max(case((CheckState.check.in_(list(checks)), rank), else_=0)), 0)

    every = [c for checks in COLUMN_CHECKS.values() for c in checks]
    return (
        select(
            domain_id,
            workspace_id,
            name,
            server_id,
            provider,
            *(worst(checks).label(key) for key, checks in COLUMN_CHECKS.items()),
            worst(every).label("status"),
            func.max(case((own == 1, CheckState.checked_at))).label("checked_at"),
        )
        .select_from(sub)
        .outerjoin(CheckState, and_(CheckState.workspace_id == workspace_id, CheckState.subject == subject))
        .group_by(domain_id, workspace_id, name, server_id, provider)
    )


_COLUMNS = ["domain_id", "workspace_id", "name", "server_id", "dns_provider", *COLUMN_CHECKS, "status", "checked_at"]


def refresh(connection: Connection, where: Any) -> None:
    """Recompute the rows of the domains `where` selects (a condition on `Domain`)."""
    if connection.dialect.name == "postgresql":
        # two writers of one domain's row at once (two families' results, two workers): the second waits
        # for the first and updates the row (a delete + insert raced into a unique-key error); every
        # selected domain gets a row, so nothing is left to delete
        upsert = pg_insert(_TABLE).from_select(_COLUMNS, rows_select(where))
        fresh = {name: upsert.excluded[name] for name in _COLUMNS if name != "domain_id"}
        connection.execute(upsert.on_conflict_do_update(index_elements=["domain_id"], set_=fresh))
        return
    # SQLite's writers run one at a time
    connection.execute(delete(_TABLE).where(_TABLE.c.domain_id.in_(select(Domain.id).where(where))))
    connection.execute(insert(_TABLE).from_select(_COLUMNS, rows_select(where)))


def refresh_ids(connection: Connection, ids: Iterable[int]) -> None:
    """Recompute the rows of these domains."""
    chosen = sorted(set(ids))
    for start in range(0, len(chosen), _CHUNK):
        refresh(connection, Domain.id.in_(chosen[start : start + _CHUNK]))


def refresh_workspace(connection: Connection, workspace_id: int | None) -> None:
    """Recompute every row of a workspace (None: of every workspace, as the migration's backfill)."""
    refresh(connection, Domain.workspace_id == workspace_id if workspace_id is not None else literal(True))


def refresh_checked(session: Session, workspace_id: int, subjects: Iterable[str], changed: Iterable[str]) -> None:
    """After check states of `subjects` were written: the rows of the domains they are (or whose mailboxes
    they are), and of the domains on a server whose IP's state `changed`."""
    names = sorted({s.rsplit("@", 1)[-1] for s in subjects})
    moved = sorted(set(changed))
    connection = session.connection()
    if len(names) > 2 * _CHUNK:  # a whole-fleet run: one pass over the workspace
        refresh_workspace(connection, workspace_id)
        return
    on_server = Domain.server_id.in_(
        select(Server.id).where(Server.workspace_id == workspace_id, Server.ipv4.in_(moved))
    )
    chosen = or_(Domain.name.in_(names), on_server) if moved else Domain.name.in_(names)
    refresh(connection, and_(Domain.workspace_id == workspace_id, chosen))


def _moved(session: Session, server: Server) -> bool:
    return server in session.deleted or get_history(server, "ipv4").has_changes()


@event.listens_for(Session, "after_flush")
def _desired_flushed(session: Session, _context: UOWTransaction) -> None:
    """Domains, mailboxes and servers written by the ORM: recompute the rows they feed, in the same transaction."""
    ids: set[int] = set()
    workspaces: set[int | None] = set()
    for row in [*session.new, *session.dirty, *session.deleted]:
        if isinstance(row, Domain) and row not in session.deleted:
            if row in session.new or any(get_history(row, a).has_changes() for a in ("server_id", "dns_provider")):
                ids.add(row.id)
        elif isinstance(row, Mailbox):
            domain_id = row.__dict__.get("domain_id")
            if domain_id is None:
                workspaces.add(row.__dict__.get("workspace_id"))
            else:
                ids.add(domain_id)
        elif isinstance(row, Server) and row not in session.new and _moved(session, row):
            # its domains lost (or changed) the IP whose states they showed; a rare, whole-workspace pass
            workspaces.add(row.__dict__.get("workspace_id"))
    if not ids and not workspaces:
        return
    connection = session.connection()
    for workspace in workspaces:
        refresh_workspace(connection, workspace)
    if None not in workspaces:
        refresh_ids(connection, ids)


__all__ = [
    "COLUMN_CHECKS",
    "RANK",
    "STATUS_OF",
    "refresh",
    "refresh_checked",
    "refresh_ids",
    "refresh_workspace",
    "rows_select",
]

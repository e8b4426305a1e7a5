"""Edit desired state without a file: the path the REST API takes (`email-infra domain …`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import ConflictError, NotFoundError, UserError
from email_infrastructure.core.inventory import Inventory
from email_infrastructure.core.names import normalise_domain
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import API_OWNER, OwnershipConflictError, from_rows, write_snapshot
from email_infrastructure.services.domain_edits import DomainEdit, edit_snapshot, stamp, target
from email_infrastructure.services.scope import current
from email_infrastructure.services.uow import resolve
from email_infrastructure.storage.api_repositories import DomainPages, PageRow, page_outside_transaction, read_only
from email_infrastructure.storage.models import Domain, Mailbox
from email_infrastructure.storage.repositories import DesiredRows


@dataclass
class DomainView:
    """A domain of the desired state, with every default applied."""

    name: str
    owner: str
    spec: dict[str, Any]
    mailboxes: list[str]
    #: what a face rendered from this (immutable, cached) view, by its own key: e.g. the API's item JSON
    rendered: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"name": self.name, "owner": self.owner, "spec": self.spec, "mailboxes": self.mailboxes}


def _view(inventory: Inventory, name: str, owner: str) -> DomainView:
    spec = next(d for d in inventory.domains if d.name == name)
    resolved = inventory.resolve(spec)
    data = resolved.model_dump(mode="json", exclude={"server", "mailboxes", "name"})
    data["server"] = resolved.server.name if resolved.server else None
    return DomainView(name, owner, data, [f"{m.address_local_part}@{name}" for m in spec.mailboxes])


def _existing_name(text: str) -> str:
    """The name of a domain to look up: one that is not a domain name is in no desired state (404, not 400)."""
    try:
        return normalise_domain(text)
    except ValueError as exc:
        raise NotFoundError(f"{text!r} is not a domain of the desired state ({exc})") from None


async def list_domains(app: App) -> list[DomainView]:
    """Every domain of the desired state."""
    from email_infrastructure.services.desired import load_snapshot

    snap = await load_snapshot(app)
    inventory = snap.inventory()
    return [_view(inventory, name, item.owner) for name, item in sorted(snap.domains.items())]


@dataclass
class DomainPage:
    """One page of the desired state's domains, the total matching, and each domain's check status."""

    domains: list[DomainView]
    total: int
    statuses: dict[str, str]


#: a domain's status: the worst of its current check states, `unknown` when never checked
DOMAIN_STATUSES = ("ok", "warning", "error", "unknown")


async def page_domains(
    app: App,
    *,
    limit: int = 50,
    offset: int = 0,
    status: str | None = None,
    provider: str | None = None,
    server: str | None = None,
) -> DomainPage:
    """A page of domains by name, filtered in the database (the whole snapshot is never loaded)."""
    if status is not None and status not in DOMAIN_STATUSES:
        raise UserError(f"unknown status {status!r} (one of {', '.join(DOMAIN_STATUSES)})")
    if not app.has_state():
        return DomainPage([], 0, {})
    cached = await _cached_page(app, limit=limit, offset=offset, status=status, provider=provider, server=server)
    if cached is not None:
        return cached
    async with app.uow() as uow:
        await read_only(uow.session)
        pages = DomainPages(uow.session)
        rows, total, fleet_stamp = await pages.page(
            limit=limit, offset=offset, provider=provider, server=server, status=status
        )
        if not rows:
            return DomainPage([], total, {})
        # stamped with the workspace: a view or fleet cached in one workspace is never served in another
        fleet_stamp = (uow.workspace_id, fleet_stamp)
        cache = app.domain_views
        fleet = cache.fleet(uow.workspace_id, fleet_stamp)
        if fleet is None:
            fleet = cache.keep_fleet(uow.workspace_id, fleet_stamp, await pages.fleet())
        views, missing = _cached_views(app, fleet_stamp, rows)
        if missing:  # only these need their specs read
            specs = await pages.specs([r.name for r in missing])
            for r in missing:
                r.spec = specs.get(r.name)
            # on PostgreSQL (read committed) a domain may be removed between the two reads: it is left out
            missing = [r for r in missing if r.spec is not None]
    if missing:
        _compute_views(app, fleet, fleet_stamp, missing, views)
    listed = [r for r in rows if r.name in views]
    return DomainPage([views[r.name] for r in listed], total, {r.name: r.status for r in listed})


async def _cached_page(
    app: App, *, limit: int, offset: int, status: str | None, provider: str | None, server: str | None
) -> DomainPage | None:
    """The page from SQLite's one-statement read when the App's cache holds every listed domain's current
    view (the steady state of a listing); None for the unit of work's read (PostgreSQL, a view to compute)."""
    workspace_id, _ = await resolve(app, current(app.settings.workspace))
    if workspace_id is None:  # every workspace: the unit of work's read
        return None
    engine = (await app.database()).engine
    found = await page_outside_transaction(
        engine, workspace_id=workspace_id, limit=limit, offset=offset, provider=provider, server=server, status=status
    )
    if found is None:
        return None
    rows, total, stamp = found
    fleet_stamp = (workspace_id, stamp)  # as the unit of work's read stamps it
    views, missing = _cached_views(app, fleet_stamp, rows)
    if missing:
        return None
    return DomainPage([views[r.name] for r in rows], total, {r.name: r.status for r in rows})


def _stamp_of(fleet_stamp: Any, row: PageRow) -> tuple[Any, ...]:
    """Everything a domain's view is computed from: the fleet's stamp (counts and newest changes of providers,
    servers, settings) and the row's owner, change time (set on every change of it) and mailboxes."""
    return (fleet_stamp, row.managed_by, row.updated_at, tuple(row.mailboxes))


def _transient(rows: list[PageRow]) -> list[Domain]:
    """Rows as ORM objects never added to a session: only what from_rows reads of them."""
    return [
        Domain(
            name=r.name,
            spec=r.spec,
            managed_by=r.managed_by,
            mailboxes=[Mailbox(local_part=m[0], first_name=m[1], last_name=m[2]) for m in r.mailboxes],
        )
        for r in rows
    ]


def _cached_views(app: App, fleet_stamp: Any, rows: list[PageRow]) -> tuple[dict[str, DomainView], list[PageRow]]:
    """Views of listed domains the App's cache holds (nothing they are computed from changed), and the rows
    of the others: a page of unchanged domains is served without validating the desired state again (what
    made listing 10,000 domains slow)."""
    cache = app.domain_views
    views: dict[str, DomainView] = {}
    missing: list[PageRow] = []
    for r in rows:
        found = cache.get(r.name, _stamp_of(fleet_stamp, r))
        if found is None:
            missing.append(r)
        else:
            views[r.name] = found
    return views, missing


def _compute_views(
    app: App, fleet: DesiredRows, fleet_stamp: Any, missing: list[PageRow], views: dict[str, DomainView]
) -> None:
    """Compute (and cache) the views of `missing` rows, their specs read, into `views`."""
    inventory = from_rows(DesiredRows(fleet.providers, fleet.servers, fleet.settings, _transient(missing)))
    resolved = inventory.inventory()
    for r in missing:
        views[r.name] = _view(resolved, r.name, r.managed_by)
        app.domain_views.put(r.name, _stamp_of(fleet_stamp, r), views[r.name])


@contextlib.asynccontextmanager
async def _write_turn(app: App) -> AsyncIterator[None]:
    """On SQLite, this App's domain edits take turns: SQLite has one writer, and connections waiting for
    its lock sleep in its busy handler (up to 100 ms a time), which made 8 writing clients' p99 1.5 s.
    PostgreSQL edits of different domains lock different rows: they run together."""
    if (await app.database()).engine.dialect.name != "sqlite":
        yield
        return
    async with app.domain_views.write_turn():
        yield


def _absent(name: str) -> NotFoundError:
    return NotFoundError(f"{name} is not a domain of the desired state (see `email-infra domain list`)")


@dataclass
class DomainSummary:
    """A domain's view and its status as the list gives it: what `GET /domains/{name}` serves."""

    view: DomainView
    status: str


async def domain_summary(app: App, name: str) -> DomainSummary:
    """One domain and its status, by key: one query (row, mailboxes, status, the fleet's stamp) when the
    App's cached view is current, else three more for its settings, server and providers."""
    wanted = _existing_name(name)
    if not app.has_state():
        raise _absent(wanted)
    async with app.uow() as uow:
        await read_only(uow.session)
        found = await DomainPages(uow.session).one(wanted)
        if found is None:
            raise _absent(wanted)
        row, fleet_stamp = found
        stamp = _stamp_of((uow.workspace_id, fleet_stamp), row)  # as page_domains stamps it
        view = app.domain_views.get(wanted, stamp)
        if view is None:
            rows = await uow.desired.needed_by(_transient([row])[0])
            view = _view(from_rows(rows).inventory(), wanted, row.managed_by)
            app.domain_views.put(wanted, stamp, view)
    return DomainSummary(view, row.status)


async def show_domain(app: App, name: str) -> DomainView:
    """One domain, read by key (the same queries whatever the fleet's size); NotFoundError when absent."""
    return (await domain_summary(app, name)).view


async def domain_inventory(app: App, name: str) -> tuple[Inventory, DomainView]:
    """The desired state of one domain alone (what its records, plan and checks are computed from) and its view."""
    wanted = _existing_name(name)
    if not app.has_state():
        raise _absent(wanted)
    async with app.uow() as uow:
        await read_only(uow.session)
        # the domains reporting to it too: their `_report._dmarc` records are in its zone
        rows = await uow.desired.closure(wanted, reporters=True)
    if rows is None:
        raise _absent(wanted)
    inventory = from_rows(rows).inventory()
    return inventory, _view(inventory, wanted, rows.domains[0].managed_by)


async def domain_status(app: App, name: str) -> str:
    """A domain's status as the list gives it (`page_domains`): the worst of its check states, or `unknown`."""
    if not app.has_state():
        return "unknown"
    async with app.uow() as uow:
        await read_only(uow.session)
        return await DomainPages(uow.session).status(_existing_name(name))


async def add_domain(
    app: App,
    name: str,
    options: dict[str, Any] | None = None,
    mailboxes: list[dict[str, str]] | None = None,
    *,
    owner: str = API_OWNER,
    force: bool = False,
    source: str | None = None,
    dmarc_policy: str | None = None,
) -> DomainView:
    """Add a domain with the stored defaults, `options` overriding them; `force` replaces one.

    `dmarc_policy` changes only the policy of the stored DMARC defaults (the CLI's `--dmarc-policy`).
    """
    edit = DomainEdit(
        "add", name, dict(options or {}), list(mailboxes or []), dmarc_policy=dmarc_policy, owner=owner, force=force
    )
    return await write_edit(app, edit, source=source)


async def replace_domain(
    app: App,
    name: str,
    options: dict[str, Any] | None = None,
    mailboxes: list[dict[str, str]] | None = None,
    *,
    source: str | None = None,
) -> DomainView:
    """Replace an API-owned domain's options and mailboxes (PUT): NotFoundError when absent, and
    OwnershipConflictError when another owner (a file) holds it: it is changed there, never here."""
    current = await show_domain(app, name)
    if current.owner != API_OWNER:
        raise OwnershipConflictError(f"{current.name} is owned by {current.owner}: change it there")
    return await add_domain(app, current.name, options, mailboxes, force=True, source=source)


class StaleEditError(ConflictError):
    """The stored desired state changed since the edit was previewed; nothing was written."""


async def write_edit(
    app: App, edit: DomainEdit, *, source: str | None = None, expected: str | None = None
) -> DomainView:
    """Write one edit (services/domain_edits.py): the fleet's small tables and this domain alone are read
    and written, so an edit costs the same whatever the fleet's size. With `expected` (a preview's
    `stamp`) it is refused, nothing written, when what the edit reads changed since."""
    wanted = target(edit)
    async with _write_turn(app), app.uow() as uow:
        rows = await uow.desired.load(only=[wanted])
        snap = from_rows(rows)
        if expected is not None and stamp(snap, wanted) != expected:
            raise StaleEditError(
                f"the desired state of {wanted} changed since this change was previewed: preview it again"
            )
        before = _view(snap.inventory(), wanted, snap.domains[wanted].owner) if wanted in snap.domains else None
        done = edit_snapshot(snap, edit)
        view = before if edit.action == "remove" and before is not None else _view(snap.inventory(), wanted, done.owner)
        await write_snapshot(uow, rows, snap)
        uow.emit(
            done.topic,
            events.DesiredDomainPayload(domain=wanted, owner=done.event_owner),
            source=source or edit.owner,
        )
        await uow.commit()
    app.domain_views.invalidate(wanted)
    return view


async def update_domain(
    app: App,
    name: str,
    options: dict[str, Any] | None = None,
    *,
    dmarc_policy: str | None = None,
    owner: str = API_OWNER,
    force: bool = False,
    source: str | None = None,
) -> DomainView:
    """Change some options of a domain (its other options and mailboxes kept); another owner's needs `force`."""
    edit = DomainEdit("update", name, dict(options or {}), dmarc_policy=dmarc_policy, owner=owner, force=force)
    return await write_edit(app, edit, source=source)


async def remove_domain(
    app: App, name: str, *, owner: str = API_OWNER, force: bool = False, source: str | None = None
) -> DomainView:
    """Drop a domain from the desired state; the next apply deletes the records we made for it."""
    return await write_edit(app, DomainEdit("remove", name, owner=owner, force=force), source=source)


async def set_mailboxes(
    app: App,
    name: str,
    add: list[dict[str, str]] | None = None,
    remove: list[str] | None = None,
    *,
    owner: str = API_OWNER,
    force: bool = False,
    source: str | None = None,
) -> DomainView:
    """Add personas to a domain and remove mailboxes by local part; another owner's domain needs `force`."""
    edit = DomainEdit("mailboxes", name, mailboxes=list(add or []), remove=list(remove or []), owner=owner, force=force)
    return await write_edit(app, edit, source=source)

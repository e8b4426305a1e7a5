"""Workspaces: create, list, show, rename and remove them; which one a command or a file acts in."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from email_infrastructure.core.errors import ConflictError, NotFoundError, UserError
from email_infrastructure.core.names import DEFAULT_WORKSPACE, WORKSPACE_NAME_PATTERN
from email_infrastructure.services import events
from email_infrastructure.services.scope import EVERY, Scope, acting_in, current

if TYPE_CHECKING:
    from email_infrastructure.services.apikeys import KeyInfo
    from email_infrastructure.services.app import App
    from email_infrastructure.services.uow import UnitOfWork
    from email_infrastructure.storage.models import Workspace

_NAME = re.compile(WORKSPACE_NAME_PATTERN)
T = TypeVar("T")


class DomainTakenError(ConflictError):
    """A domain name another workspace holds (a name exists in one workspace at most)."""


@dataclass(frozen=True)
class WorkspaceInfo:
    """A workspace and what it holds."""

    name: str
    id: int
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready."""
        return {"name": self.name, "created_at": self.created_at, **_COUNTS, **self.counts}


#: every count a workspace reports, zero when it holds none
_COUNTS = {"domains": 0, "mailboxes": 0, "servers": 0, "failing_checks": 0, "api_keys": 0}


def valid_name(name: str) -> str:
    """`name` if it is a workspace name, else a clear error."""
    if not _NAME.match(name):
        raise UserError(
            f"invalid workspace name {name!r}: lowercase letters, digits and inner hyphens, 1 to 64 characters"
        )
    return name


def scope_for(flag: str | None, file_workspace: str | None, settings_workspace: str) -> Scope:
    """The workspace a command acts in: its `--workspace`, else its file's `workspace:`, else the settings'.

    A flag and a file that name different workspaces are refused: a file never writes into
    another workspace than the one it names.
    """
    if flag and file_workspace and flag != file_workspace:
        raise UserError(f"the inventory names workspace {file_workspace!r} but the command acts in {flag!r}")
    return Scope(valid_name(flag or file_workspace or settings_workspace))


def scope_for_key(key: KeyInfo, requested: str | None) -> Scope:
    """The workspace a request with `key` acts in: the key's own, or for an operator key the one asked for
    (else `default`). A workspace key asking for another workspace gets NotFoundError, exactly as for a
    workspace that does not exist: no answer tells a key that another workspace exists."""
    if key.workspace_id is not None:
        if requested is not None and requested != key.workspace:
            raise NotFoundError(f"workspace {requested} does not exist")
        return Scope(key.workspace, key.workspace_id)
    if requested is not None and not _NAME.match(requested):
        raise NotFoundError(f"workspace {requested} does not exist")
    return Scope(requested or DEFAULT_WORKSPACE)


async def request_scope(app: App, key: KeyInfo, requested: str | None) -> Scope:
    """The workspace a request acts in (`scope_for_key`), its id resolved: a workspace that does not exist
    answers NotFoundError with the words a workspace key asking for another workspace gets, so no answer
    tells which names exist. Ids are cached on the App (`workspace_names`), as units of work cache them."""
    scope = scope_for_key(key, requested)
    if scope.id is not None:
        return scope
    name = str(scope.name)
    known = next((i for i, n in app.workspace_names.items() if n == name), None)
    if known is None:
        async with app.uow(EVERY) as uow:
            row = await _named(uow, name)
        known = row.id
        app.workspace_names[row.id] = row.name
    return Scope(name, known)


async def visible_to(app: App, key: KeyInfo) -> list[WorkspaceInfo]:
    """The workspaces a key may see, with their counts: every one for an operator key, else its own."""
    if key.workspace_id is None:
        return await list_workspaces(app)
    async with app.uow(EVERY) as uow:
        row = await uow.workspaces.by_id(key.workspace_id)
        if row is None:  # removed since the key was verified
            return []
        counts = await uow.workspaces.counts([row.id])
    return [WorkspaceInfo(row.name, row.id, row.created_at.isoformat(), counts.get(row.id, {}))]


async def ensure(app: App) -> bool:
    """Create the chosen workspace if it does not exist yet (an inventory naming a new client); True if made."""
    scope = current(app.settings.workspace)
    if scope.every or scope.name is None:
        raise UserError("choose one workspace to write into (--workspace NAME), not every workspace")
    async with app.uow(EVERY) as uow:
        if await uow.workspaces.by_name(scope.name) is not None:
            return False
    await create(app, scope.name)
    return True


async def create(app: App, name: str) -> WorkspaceInfo:
    """Create an empty workspace."""
    valid_name(name)
    async with app.uow(EVERY) as uow:
        if await uow.workspaces.by_name(name) is not None:
            raise ConflictError(f"workspace {name} exists already")
        row = await uow.workspaces.add(name)
        uow.emit(events.WORKSPACE_CREATED, events.WorkspacePayload(workspace=name))
        await uow.commit()
        return WorkspaceInfo(name, row.id, row.created_at.isoformat())


async def _named(uow: UnitOfWork, name: str) -> Workspace:
    """The workspace called `name`, or NotFoundError."""
    row = await uow.workspaces.by_name(name)
    if row is None:
        raise NotFoundError(f"workspace {name} does not exist")
    return row


async def list_workspaces(app: App) -> list[WorkspaceInfo]:
    """Every workspace with its counts (domains, mailboxes, servers, failing checks, API keys)."""
    async with app.uow(EVERY) as uow:
        rows = await uow.workspaces.all()
        counts = await uow.workspaces.counts()
    return [WorkspaceInfo(r.name, r.id, r.created_at.isoformat(), counts.get(r.id, {})) for r in rows]


async def each(app: App, work: Callable[[App], Awaitable[T]]) -> list[tuple[str, T]]:
    """`work` run in every workspace in turn (by name): the `--all-workspaces` of reading commands."""
    names = [w.name for w in await list_workspaces(app)] if app.has_state() else [DEFAULT_WORKSPACE]
    done: list[tuple[str, T]] = []
    for name in names:
        with acting_in(Scope(name)):
            done.append((name, await work(app)))
    return done


async def all_names(app: App) -> list[str]:
    """Every workspace's name, sorted (an operator's switcher: one narrow query, no counts)."""
    async with app.uow(EVERY) as uow:
        return [w.name for w in await uow.workspaces.all()]


async def show(app: App, name: str) -> WorkspaceInfo:
    """One workspace with its counts."""
    async with app.uow(EVERY) as uow:
        row = await _named(uow, name)
        counts = await uow.workspaces.counts([row.id])
    return WorkspaceInfo(row.name, row.id, row.created_at.isoformat(), counts.get(row.id, {}))


async def rename(app: App, old: str, new: str) -> WorkspaceInfo:
    """Rename a workspace (its rows, keys and history stay; inventories naming the old name must follow)."""
    valid_name(new)
    if old == DEFAULT_WORKSPACE:
        raise UserError(f"the {DEFAULT_WORKSPACE} workspace keeps its name: commands that name none act in it")
    async with app.uow(EVERY) as uow:
        row = await _named(uow, old)
        if await uow.workspaces.by_name(new) is not None:
            raise ConflictError(f"workspace {new} exists already")
        row.name = new
        uow.emit(events.WORKSPACE_RENAMED, events.WorkspacePayload(workspace=new, previous=old))
        await uow.commit()
        app.workspace_names[row.id] = new
        return WorkspaceInfo(row.name, row.id, row.created_at.isoformat())


@dataclass
class Removal:
    """What removing a workspace did: what it held, and the status of the apply that pruned it."""

    name: str
    counts: dict[str, int]
    pruned: str | None = None


async def held_by(app: App, name: str) -> dict[str, int]:
    """What a workspace holds (its counts), refusing the default workspace and unknown ones."""
    if name == DEFAULT_WORKSPACE:
        raise UserError(f"the {DEFAULT_WORKSPACE} workspace cannot be removed: commands that name none act in it")
    async with app.uow(EVERY) as uow:
        row = await _named(uow, name)
        return {**_COUNTS, **(await uow.workspaces.counts([row.id])).get(row.id, {})}


def refuse_if_held(name: str, counts: dict[str, int]) -> None:
    """ConflictError naming what a workspace still holds (domains, mailboxes, servers), if anything."""
    held = {k: v for k, v in counts.items() if k in ("domains", "mailboxes", "servers") and v}
    if held:
        what = ", ".join(f"{v} {k}" for k, v in held.items())
        raise ConflictError(f"workspace {name} is not empty ({what}); remove them first, or pass --prune")


async def drop(app: App, name: str) -> None:
    """Delete a workspace and every row it still holds (services/workspace_removal.py prunes first)."""
    async with app.uow(EVERY) as uow:
        row = await _named(uow, name)
        await uow.workspaces.remove(row)
        uow.emit(events.WORKSPACE_REMOVED, events.WorkspacePayload(workspace=name))
        await uow.commit()
    app.workspace_names.pop(row.id, None)


async def check_domains_free(uow: UnitOfWork, names: list[str]) -> None:
    """Refuse domain names another workspace holds (without saying which: keys see one workspace)."""
    if not names:
        return
    held = {n: w for n, w in (await uow.workspaces.holders(names)).items() if w != uow.workspace_id}
    if held:
        listed = ", ".join(sorted(held)[:5]) + (f" and {len(held) - 5} more" if len(held) > 5 else "")
        raise DomainTakenError(f"domain {listed} is held by another workspace (a domain lives in one workspace)")


__all__ = [
    "DomainTakenError",
    "Removal",
    "WorkspaceInfo",
    "all_names",
    "check_domains_free",
    "create",
    "drop",
    "each",
    "ensure",
    "held_by",
    "list_workspaces",
    "refuse_if_held",
    "rename",
    "request_scope",
    "scope_for",
    "scope_for_key",
    "show",
    "valid_name",
    "visible_to",
]

"""Workspace isolation by construction: a session bound to a workspace sees and writes only its rows.

Every ORM statement a bound session executes — select, update, delete, the lazy and `selectin`
loads of relationships, `session.get` — gets `workspace_id = <its workspace>` on every scoped
table it touches (SQLAlchemy's `with_loader_criteria`, the documented way to add a global WHERE),
and every new scoped row gets the session's workspace at flush. A repository therefore cannot
forget the filter. A session bound to *every* workspace (operators' reads, vault rotation) is not
filtered and may not create scoped rows; a statement that must look across workspaces on purpose
(is an RRset in a shared zone another workspace's?) says so with `across_workspaces()`.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from email_infrastructure.core.errors import StorageError
from email_infrastructure.storage.models import WorkspaceOptional, WorkspaceRow, WorkspaceScoped

_KEY = "workspace_id"
#: the execution option that lifts the filter for one statement
_ACROSS = "across_workspaces"


def bind(session: Session | AsyncSession, workspace_id: int | None) -> None:
    """Bind a session to one workspace (None: every workspace, read-mostly)."""
    session.info[_KEY] = workspace_id


def bound_workspace(session: Session | AsyncSession) -> int | None:
    """The workspace a session is bound to (None: every workspace)."""
    if _KEY not in session.info:
        raise StorageError("a database session was used without a workspace (open it through a unit of work)")
    workspace: int | None = session.info[_KEY]
    return workspace


def across_workspaces() -> dict[str, Any]:
    """Execution options of a statement that looks across workspaces on purpose."""
    return {_ACROSS: True}


def rows_for(session: Session | AsyncSession, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk-insert parameter rows with the session's workspace (bulk inserts bypass the flush)."""
    workspace = writing_workspace(session, "rows")
    for row in rows:
        row[_KEY] = workspace
    return rows


def writing_workspace(session: Session | AsyncSession, what: str) -> int:
    """The workspace new rows of a session go to; refuses a session of every workspace."""
    workspace = bound_workspace(session)
    if workspace is None:
        raise StorageError(f"cannot store {what} without choosing a workspace (this session reads every workspace)")
    return workspace


@event.listens_for(Session, "do_orm_execute")
def _filter(state: ORMExecuteState) -> None:
    if state.is_insert:
        _check_insert(state)
        return
    if not (state.is_select or state.is_update or state.is_delete) or state.execution_options.get(_ACROSS):
        return
    workspace = bound_workspace(state.session)
    if workspace is None:
        return
    state.statement = state.statement.options(*_criteria(workspace))


@functools.lru_cache(maxsize=1024)
def _criteria(workspace: int) -> tuple[Any, ...]:
    """The options that filter a statement to `workspace`, made once per workspace: building them (the
    lambda's analysis, the coercions) cost more per statement than the rest of a read by key."""
    return tuple(
        with_loader_criteria(base, lambda cls: cls.workspace_id == workspace, include_aliases=True)
        for base in (WorkspaceScoped, WorkspaceOptional)
    )


def _check_insert(state: ORMExecuteState) -> None:
    """A bulk insert of scoped rows names their workspace (`rows_for`): it bypasses the flush's stamp."""
    if not any(issubclass(mapper.class_, WorkspaceRow) for mapper in state.all_mappers):
        return
    params = state.parameters
    rows = params if isinstance(params, list) else [params] if params else []
    if not rows or any(_KEY not in row for row in rows):
        raise StorageError("a bulk insert of workspace rows must name their workspace (storage.scoping.rows_for)")


@event.listens_for(Session, "before_flush")
def _stamp(session: Session, _context: object, _instances: object) -> None:
    for row in session.new:
        if isinstance(row, WorkspaceScoped | WorkspaceOptional) and row.workspace_id is None:
            workspace = bound_workspace(session)
            if workspace is None and not row.workspace_optional:
                raise StorageError(
                    f"cannot store a {type(row).__name__} row without choosing a workspace "
                    "(this session reads every workspace)"
                )
            row.workspace_id = workspace

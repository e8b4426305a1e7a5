"""Which workspace a unit of work acts in: set once by the face, read by every unit of work below it.

A face chooses the workspace (the CLI from `--workspace`, `EMAIL_INFRA_WORKSPACE` or the inventory's
`workspace:`; the API from the key and the route; a background task from its parameters) and runs
its service call inside `acting_in(...)`. Like the run's correlation id, the choice is a context
variable, so tasks started inside the block (a reconcile's concurrent steps, an audit's batches)
act in the same workspace. Nothing set: the settings' workspace (`default`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from dataclasses import dataclass

from email_infrastructure.core.names import DEFAULT_WORKSPACE


@dataclass(frozen=True)
class Scope:
    """One workspace by name (and id once known), or every workspace (`name` None: operators' reads)."""

    name: str | None
    id: int | None = None
    #: a workspace that does not exist yet reads as empty (a plan of a file naming a new client)
    missing_ok: bool = False

    @property
    def every(self) -> bool:
        """True for the scope of every workspace."""
        return self.name is None


#: every workspace at once: reads across workspaces, never a write of workspace rows
EVERY = Scope(None)

#: where install-wide rows live (the API's HMAC key, the dashboard's session key): the default
#: workspace, which can be neither renamed nor removed
INSTALL_WIDE = Scope(DEFAULT_WORKSPACE)

_current: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("workspace", default=None)


def chosen() -> Scope | None:
    """The scope the face chose, if any (else units of work use the settings' workspace)."""
    return _current.get()


@contextlib.contextmanager
def acting_in(scope: Scope | str) -> Iterator[Scope]:
    """Run the block (and tasks started in it) in one workspace, or every workspace with `EVERY`."""
    value = Scope(scope) if isinstance(scope, str) else scope
    token = _current.set(value)
    try:
        yield value
    finally:
        _current.reset(token)


def current(default: str) -> Scope:
    """The chosen scope, else the workspace named `default` (the settings')."""
    return _current.get() or Scope(default)


def enter(scope: Scope | str) -> None:
    """Act in `scope` for the rest of the current task (a request handler's dependency)."""
    _current.set(Scope(scope) if isinstance(scope, str) else scope)

"""The per-App cache of computed domain views: bounded, invalidated by this App's writes, never shared.

Entries are keyed by name and stamped with everything the view was computed from (the workspace,
the fleet's stamp, the row's owner, change time and mailboxes): a stale stamp is a miss, so a write
made by another process is never served from here either, nor a view computed in one workspace to
another (a name moved between workspaces has another stamp). The fleet rows views are computed from
are kept per workspace. Each App holds its own (`App.domain_views`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: views kept per App: a page of 500 from a 10,000-domain fleet without computing any again
DEFAULT_SIZE = 20_000
#: workspaces whose fleet rows are kept (the least recently listed dropped first)
FLEETS = 256


class DomainViewCache(Generic[V]):
    """Name → (stamp, view), least recently used dropped first; plus each workspace's fleet rows."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._views: OrderedDict[str, tuple[Any, V]] = OrderedDict()
        #: workspace id → (the fleet's stamp, its rows): the providers, servers and settings the views of
        #: a page are computed from (None: the scope of every workspace)
        self._fleets: OrderedDict[int | None, tuple[Any, Any]] = OrderedDict()
        #: the App's turn to edit domains, per event loop (an App may outlive one: the CLI runs several)
        self._turns: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    def __len__(self) -> int:
        return len(self._views)

    def __contains__(self, name: object) -> bool:
        return name in self._views

    def get(self, name: str, stamp: Any) -> V | None:
        """The view of `name` computed from `stamp`, or None."""
        entry = self._views.get(name)
        if entry is None or entry[0] != stamp:
            return None
        self._views.move_to_end(name)
        return entry[1]

    def put(self, name: str, stamp: Any, view: V) -> None:
        """Keep a view (dropping the least recently used beyond `size`)."""
        self._views[name] = (stamp, view)
        self._views.move_to_end(name)
        while len(self._views) > self.size:
            self._views.popitem(last=False)

    def fleet(self, workspace: int | None, stamp: Any) -> Any | None:
        """The fleet rows of `workspace` read at `stamp`, or None."""
        entry = self._fleets.get(workspace)
        if entry is None or entry[0] != stamp:
            return None
        self._fleets.move_to_end(workspace)
        return entry[1]

    def keep_fleet(self, workspace: int | None, stamp: Any, rows: Any) -> Any:
        """Keep `workspace`'s fleet rows read at `stamp` (dropping the least recently used beyond `FLEETS`)."""
        self._fleets[workspace] = (stamp, rows)
        self._fleets.move_to_end(workspace)
        while len(self._fleets) > FLEETS:
            self._fleets.popitem(last=False)
        return rows

    def write_turn(self) -> asyncio.Lock:
        """The lock this App's domain edits take in turn on the running event loop."""
        loop = asyncio.get_running_loop()
        lock = self._turns.get(loop)
        if lock is None:
            self._turns = {known: held for known, held in self._turns.items() if not known.is_closed()}
            lock = self._turns[loop] = asyncio.Lock()
        return lock

    def invalidate(self, name: str | None = None) -> None:
        """Forget one domain's view (a write to it), or everything (a write to the fleet)."""
        if name is None:
            self._views.clear()
            self._fleets.clear()
        else:
            self._views.pop(name, None)


__all__ = ["DEFAULT_SIZE", "FLEETS", "DomainViewCache"]

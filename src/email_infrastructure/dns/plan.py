"""The DNS plan of one zone: typed RRset changes, provider extras, and the safety threshold."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from email_infrastructure.dns.records import Record

#: octoDNS-style safety: zones with at least this many managed records…
SAFETY_MIN_RECORDS = 10
#: …refuse to update or delete more than this share of them without --force
SAFETY_MAX_SHARE = 0.30


class Action(StrEnum):
    """What a change does."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """One RRset change: old → new."""

    action: Action
    old: Record | None = None
    new: Record | None = None

    @property
    def record(self) -> Record:
        """The record this change is about (new for create/update, old for delete)."""
        record = self.new or self.old
        assert record is not None
        return record

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form."""
        r = self.record
        return {
            "action": self.action.value,
            "name": r.name,
            "type": r.type,
            "old": _state(self.old),
            "new": _state(self.new),
        }


def _state(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    state: dict[str, Any] = {"ttl": record.ttl, "values": list(record.values)}
    if record.proxied:
        state["proxied"] = True
    return state


_ORDER = {Action.DELETE: 0, Action.CREATE: 1, Action.UPDATE: 2}


def diff(
    desired: Iterable[Record], existing: Iterable[Record], owned: set[tuple[str, str]], purge: bool
) -> tuple[list[Change], int]:
    """Changes that make `existing` match `desired`, and how many unmanaged RRsets are left alone.

    An existing RRset that is not desired is deleted only when we own it or the zone is purged.
    Changes come deletes first, then creates, then updates (so a CNAME can replace an A).
    """
    wanted = {r.key: r for r in desired}
    current = {r.key: r for r in existing}
    changes: list[Change] = []
    unmanaged = 0
    for key, record in current.items():
        if key in wanted:
            continue
        if key in owned or purge:
            changes.append(Change(Action.DELETE, old=record))
        else:
            unmanaged += 1
    for key, record in wanted.items():
        old = current.get(key)
        if old is None:
            changes.append(Change(Action.CREATE, new=record))
        elif (old.values, old.ttl, old.proxied) != (record.values, record.ttl, record.proxied):
            changes.append(Change(Action.UPDATE, old=old, new=record))
    changes.sort(key=lambda c: (_ORDER[c.action], c.record.name, c.record.type))
    return changes, unmanaged


@dataclass(frozen=True)
class ExtraChange:
    """A change a provider makes beside the records (octoDNS's `_extra_changes`): a redirect rule.

    `owned` is the ownership entry that marks the thing as ours, so that only what we made is
    ever changed or removed.
    """

    kind: str
    owned: tuple[str, str]
    old: str | None
    new: str | None

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form."""
        return {"kind": self.kind, "old": self.old, "new": self.new}


@dataclass
class ZonePlan:
    """The changes for one zone at one provider."""

    zone: str
    provider: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    zone_exists: bool = True
    managed: int = 0
    unmanaged: int = 0
    error: str | None = None
    #: changes a provider makes beside the records (its redirect rule)
    extra: list[ExtraChange] = field(default_factory=list)
    #: intents an interrupted apply left (event id → whether the zone shows the change was made)
    settle: dict[str, bool] = field(default_factory=dict)

    @property
    def has_changes(self) -> bool:
        """Records or a provider extra would change."""
        return bool(self.changes or self.extra)

    @property
    def redirect(self) -> tuple[str | None, str | None] | None:
        """(current, wanted) target of the redirect extra, if the plan changes it."""
        found = next((e for e in self.extra if e.kind == "redirect"), None)
        return None if found is None else (found.old, found.new)

    def counts(self) -> dict[str, int]:
        """Changes by action."""
        return {a.value: sum(c.action is a for c in self.changes) for a in Action}

    def safety_problem(self) -> str | None:
        """Why this zone needs --force, or None."""
        if self.managed < SAFETY_MIN_RECORDS:
            return None
        risky = sum(c.action is not Action.CREATE for c in self.changes)
        if risky / self.managed > SAFETY_MAX_SHARE:
            return (
                f"{self.zone}: would update or delete {risky} of {self.managed} managed records "
                f"(more than {SAFETY_MAX_SHARE:.0%}); re-run with --force if that is intended"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form (format 1's zone entry; `redirect` is the redirect extra, if any)."""
        redirect = next((e for e in self.extra if e.kind == "redirect"), None)
        return {
            "zone": self.zone,
            "provider": self.provider,
            "zone_exists": self.zone_exists,
            "managed_records": self.managed,
            "unmanaged_records": self.unmanaged,
            "changes": [c.to_json() for c in self.changes],
            "redirect": None if redirect is None else {"old": redirect.old, "new": redirect.new},
            "extra_changes": [e.to_json() for e in self.extra],
            "notes": list(self.notes),
            "error": self.error,
        }

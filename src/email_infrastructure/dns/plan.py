"""The DNS plan: typed changes per zone, a stable checksum, and the safety threshold."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from email_infrastructure.dns.records import Record

PLAN_FORMAT_VERSION = 1
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
    #: (current, wanted) redirect target when a provider-side redirect rule must change
    redirect: tuple[str | None, str | None] | None = None

    @property
    def has_changes(self) -> bool:
        """Records or the redirect rule would change."""
        return bool(self.changes) or self.redirect is not None

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
        """Stable JSON form."""
        return {
            "zone": self.zone,
            "provider": self.provider,
            "zone_exists": self.zone_exists,
            "managed_records": self.managed,
            "unmanaged_records": self.unmanaged,
            "changes": [c.to_json() for c in self.changes],
            "redirect": None if self.redirect is None else {"old": self.redirect[0], "new": self.redirect[1]},
            "notes": list(self.notes),
            "error": self.error,
        }


@dataclass
class Plan:
    """A plan over every zone; the checksum covers exactly the changes."""

    zones: list[ZonePlan]

    @property
    def checksum(self) -> str:
        """sha256 of the canonical JSON of every zone's changes."""
        material = [
            {
                "zone": z.zone,
                "provider": z.provider,
                "changes": [c.to_json() for c in z.changes],
                "redirect": z.redirect,
            }
            for z in sorted(self.zones, key=lambda z: z.zone)
        ]
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @property
    def has_changes(self) -> bool:
        """True when any zone would change."""
        return any(z.has_changes for z in self.zones)

    @property
    def failed(self) -> list[ZonePlan]:
        """Zones that could not be planned."""
        return [z for z in self.zones if z.error]

    def summary(self) -> dict[str, int]:
        """Changes by action over all zones."""
        total = {a.value: 0 for a in Action}
        for zone in self.zones:
            for action, count in zone.counts().items():
                total[action] += count
        return total

    def to_json(self) -> dict[str, Any]:
        """The documented, stable plan schema (docs/plan-format.md)."""
        return {
            "format_version": PLAN_FORMAT_VERSION,
            "checksum": self.checksum,
            "summary": self.summary(),
            "zones": [z.to_json() for z in sorted(self.zones, key=lambda z: z.zone)],
        }

"""A domain's records from three sources side by side: the desired state, the DNS provider, the DNS answer.

The provider column is the plan's read of the provider's API (what apply would change); the DNS
answer is what the monitoring's latest drift check got from a DNS query: a record it reported
nothing about matched the desired value then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from email_infrastructure.monitoring.checks.drift import record_label

#: a DNS answer's states: what the latest drift check found for a record
AS_DESIRED, NOT_PUBLISHED, DIFFERENT, NO_ANSWER, NOT_CHECKED = (
    "as desired",
    "not published",
    "different",
    "no answer",
    "not checked",
)


@dataclass(frozen=True)
class Source:
    """Where a column's values come from and when they were read; `error`: why they could not be."""

    label: str
    where: str
    read_at: datetime | None
    error: str | None = None


@dataclass
class RecordRow:
    """A desired record against the provider's (`state`: `in sync`, `not read`, `missing`, `different`,
    `to delete`) and against the DNS answer (`dns_state`, `dns`: the values answered when they differ)."""

    name: str
    type: str
    desired: list[str]
    live: list[str]
    state: str
    dns_state: str = NOT_CHECKED
    dns: list[str] = field(default_factory=list)
    #: the drift finding's sentence for this record (empty when it matched or was not checked)
    dns_note: str = ""


def record_rows(desired: list[Any], changes: list[dict[str, Any]], live_read: bool) -> list[RecordRow]:
    """Desired records against the provider's: in sync, missing, different; provider-only records we own last."""
    by_key = {(c["name"], c["type"]): c for c in changes}
    rows = []
    for record in desired:
        change = by_key.pop((record.name, record.type), None)
        if change is None:
            state, live = ("in sync" if live_read else "not read"), list(record.values) if live_read else []
        elif change["action"] == "create":
            state, live = "missing", []
        else:
            state, live = "different", list((change.get("old") or {}).get("values", []))
        rows.append(RecordRow(record.name, record.type, list(record.values), live, state))
    for change in by_key.values():
        old = (change.get("old") or {}).get("values", [])
        state = "to delete" if change["action"] == "delete" else change["action"]
        new = (change.get("new") or {}).get("values", [])
        rows.append(RecordRow(change["name"], change["type"], new, old, state))
    return rows


def _answered(finding: dict[str, Any]) -> tuple[str, list[str]]:
    """A drift finding as (DNS state, the values the DNS answered)."""
    evidence = [str(e) for e in finding.get("evidence") or []]
    kind = str(finding.get("id", ""))
    if kind == "drift.missing":
        return NOT_PUBLISHED, []
    if kind == "drift.unknown":
        return NO_ANSWER, []
    if kind == "drift.extra_spf":
        return DIFFERENT, evidence
    live = next((e.removeprefix("live: ") for e in evidence if e.startswith("live: ")), None)
    return DIFFERENT, live.split(" | ") if live is not None else []


def add_dns_answers(rows: list[RecordRow], drift: list[dict[str, Any]] | None) -> None:
    """Fill each row's DNS answer from the latest drift check's findings (None: no drift check ran)."""
    if drift is None:
        return
    for row in rows:
        label = record_label(row.name, row.type)
        found = next(
            (f for f in drift if str(f.get("message", "")).startswith((f"{label} ", f"{label}:"))),
            None,
        )
        if found is None:
            row.dns_state = AS_DESIRED if row.state != "to delete" else NOT_CHECKED
            continue
        row.dns_state, row.dns = _answered(found)
        row.dns_note = str(found.get("message", ""))


__all__ = [
    "AS_DESIRED",
    "DIFFERENT",
    "NOT_CHECKED",
    "NOT_PUBLISHED",
    "NO_ANSWER",
    "RecordRow",
    "Source",
    "add_dns_answers",
    "record_rows",
]

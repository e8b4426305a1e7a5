"""The monitor: families of checks at their intervals (with jitter), history, state-change events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from email_infrastructure.core.errors import UserError
from email_infrastructure.monitoring.audit import AuditReport
from email_infrastructure.storage.repositories import Transition

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: family → checks it runs; each family has its own interval in the inventory
FAMILIES: dict[str, frozenset[str]] = {
    "dns": frozenset({"spf", "dkim", "dmarc", "mx", "mta_sts", "tls_rpt", "bimi", "drift", "compliance"}),
    "blacklist": frozenset({"dnsbl"}),
    "ptr": frozenset({"ptr"}),
    "tls": frozenset({"tls"}),
    # not an audit check: the monitor runs `services.mailbox_check` for it (stored mailboxes only)
    "mailbox": frozenset({"mailbox"}),
    # not an audit check: each sequencer's health of the mailboxes it sends for (services/sequencer_health.py)
    "sequencer": frozenset({"sequencer"}),
    # not audit checks either: RDAP and the parent's delegation (services/registration_checks.py)
    "registration": frozenset({"registration", "expiry"}),
    "delegation": frozenset({"delegation"}),
}
#: other names of a family: `blocklist` is the word of the README and the docs
FAMILY_ALIASES = {"blocklist": "blacklist"}
JITTER = 0.1

AuditRunner = Callable[[set[str]], Awaitable[AuditReport]]
Row = tuple[str, str, str, dict[str, object], str]
#: stores (subject, check, status, findings, summary) rows and returns the state changes, emitting
#: their events in the same transaction (services/monitoring.py)
Store = Callable[[list[Row]], Awaitable[list[Transition]]]


def family_name(name: str) -> str:
    """The family a name or alias means; a UserError names the known ones."""
    family = FAMILY_ALIASES.get(name, name)
    if family not in FAMILIES:
        known = ", ".join([*FAMILIES, *FAMILY_ALIASES])
        raise UserError(f"unknown check family {name!r} (known: {known})")
    return family


@dataclass
class RunSummary:
    """What one run of a family did."""

    family: str
    report: AuditReport
    transitions: list[Transition]


def rows(report: AuditReport, checks: set[str]) -> list[Row]:
    """History rows of a report, each with a one-line summary (its worst finding)."""
    out: list[Row] = []
    for subject in [*report.domains, *report.ips]:
        for name, result in subject.checks.items():
            if name not in checks:
                continue
            worst = next((f for f in result.findings if f.severity.value == "error"), None) or next(
                (f for f in result.findings if f.severity.value == "warning"), None
            )
            summary = worst.message if worst else result.summary or result.status.value
            out.append((subject.subject, name, result.status.value, result.to_json(), summary))
    return out


class Monitor:
    """Runs check families, stores every result, and emits events only when a state changes."""

    def __init__(
        self,
        runner: AuditRunner,
        store: Store,
        intervals: dict[str, int],
        on_run: Callable[[RunSummary], None] | None = None,
    ) -> None:
        self.runner = runner
        self.store = store
        self.intervals = intervals
        self.on_run = on_run

    async def run_family(self, family: str, checks: set[str] | None = None) -> RunSummary:
        """One run of one family."""
        selected = set(checks or FAMILIES[family])
        report = await self.runner(selected)
        summary = RunSummary(family, report, await self.store(rows(report, selected)))
        if self.on_run:
            self.on_run(summary)
        return summary

    async def run_once(self, families: list[str] | None = None) -> list[RunSummary]:
        """Every family once (what `monitor --once` does)."""
        return [await self.run_family(f) for f in families or list(FAMILIES)]

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Each family on its own timer, with ±10% jitter so fleets do not query in lockstep."""

        async def loop(family: str) -> None:
            interval = self.intervals.get(family, 3600)
            # The first sleep spreads families apart; like every wait, a stop ends it at once.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(0, interval * JITTER))
            while not stop.is_set():
                try:
                    await until_stopped(stop, self.run_family(family))
                except Exception:  # one failing run must not end monitoring
                    _log.exception("monitoring run of %s failed", family)
                delay = interval * random.uniform(1 - JITTER, 1 + JITTER)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

        await asyncio.gather(*(loop(f) for f in FAMILIES))


async def until_stopped(stop: asyncio.Event, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None once `stop` is set: a run in progress is cancelled, not awaited."""
    task = asyncio.ensure_future(work)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None

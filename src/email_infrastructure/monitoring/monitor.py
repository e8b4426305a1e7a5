"""The monitor: families of checks at their intervals (with jitter), history, state-change events."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from email_infrastructure.core.events import EventBus
from email_infrastructure.monitoring.audit import AuditReport
from email_infrastructure.storage.repositories import CheckHistory, Transition

_log = logging.getLogger(__name__)

#: family → checks it runs; each family has its own interval in the inventory
FAMILIES: dict[str, frozenset[str]] = {
    "dns": frozenset({"spf", "dkim", "dmarc", "mx", "mta_sts", "tls_rpt", "bimi", "drift", "compliance"}),
    "blacklist": frozenset({"dnsbl"}),
    "ptr": frozenset({"ptr"}),
    "tls": frozenset({"tls"}),
}
JITTER = 0.1

AuditRunner = Callable[[set[str]], Awaitable[AuditReport]]


@dataclass
class RunSummary:
    """What one run of a family did."""

    family: str
    report: AuditReport
    transitions: list[Transition]


def _rows(report: AuditReport, checks: set[str]) -> list[tuple[str, str, str, dict[str, object], str]]:
    rows = []
    for subject in [*report.domains, *report.ips]:
        for name, result in subject.checks.items():
            if name not in checks:
                continue
            worst = next((f for f in result.findings if f.severity.value == "error"), None) or next(
                (f for f in result.findings if f.severity.value == "warning"), None
            )
            summary = worst.message if worst else result.status.value
            rows.append((subject.subject, name, result.status.value, result.to_json(), summary))
    return rows


class Monitor:
    """Runs check families, stores every result, and emits events only when a state changes."""

    def __init__(self, runner: AuditRunner, history: CheckHistory, bus: EventBus, intervals: dict[str, int]) -> None:
        self.runner = runner
        self.history = history
        self.bus = bus
        self.intervals = intervals

    async def run_family(self, family: str, checks: set[str] | None = None) -> RunSummary:
        """One run of one family."""
        selected = set(checks or FAMILIES[family])
        report = await self.runner(selected)
        transitions = await self.history.record(_rows(report, selected))
        for change in transitions:
            payload = {
                "subject": change.subject,
                "check": change.check,
                "status": change.new,
                "previous": change.old,
                "summary": change.summary,
            }
            if change.new == "error":
                await self.bus.emit("monitoring.check.failed", payload, source="monitoring")
            elif change.old == "error":
                await self.bus.emit("monitoring.check.recovered", payload, source="monitoring")
        return RunSummary(family, report, transitions)

    async def run_once(self, families: list[str] | None = None) -> list[RunSummary]:
        """Every family once (what `monitor --once` does)."""
        return [await self.run_family(f) for f in families or list(FAMILIES)]

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Each family on its own timer, with ±10% jitter so fleets do not query in lockstep."""

        async def loop(family: str) -> None:
            interval = self.intervals.get(family, 3600)
            await asyncio.sleep(random.uniform(0, interval * JITTER))
            while not stop.is_set():
                try:
                    await self.run_family(family)
                except Exception:  # one failing run must not end monitoring
                    _log.exception("monitoring run of %s failed", family)
                delay = interval * random.uniform(1 - JITTER, 1 + JITTER)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

        await asyncio.gather(*(loop(f) for f in FAMILIES))

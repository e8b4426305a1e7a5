"""Alerts: state-change events from the bus, delivered to every configured sink.

Sinks are a workspace's (its `monitoring.alert_sinks`), and one process's bus carries the events
of every workspace it works for (a worker runs batches of several at once): a dispatcher of a
workspace delivers only that workspace's events, and a dispatcher of one run only that run's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.monitoring.sinks import Sink

_log = logging.getLogger(__name__)


class AlertDispatcher:
    """Sends `monitoring.check.failed|recovered` to each sink; one failing sink never stops another.

    With `workspace` only events of that workspace are delivered (None: every event, for a
    monitor of a file without stored state); with `runs` only events of those runs (correlation ids).
    """

    def __init__(self, sinks: list[Sink], *, workspace: str | None = None, runs: set[str] | None = None) -> None:
        self.sinks = sinks
        self.workspace = workspace
        self.runs = runs
        self.delivered = 0
        self.failures: list[str] = []

    def wants(self, event: Event) -> bool:
        """True for an event of this dispatcher's workspace (and runs, when it keeps to some)."""
        if self.workspace is not None and event.workspace != self.workspace:
            return False
        return self.runs is None or event.correlation_id in self.runs

    def attach(self, bus: EventBus) -> Callable[[], None]:
        """Subscribe to alert topics."""
        unsubscribes = [
            bus.subscribe(t, self.deliver, queued=True)
            for t in ("monitoring.check.failed", "monitoring.check.recovered")
        ]

        def detach() -> None:
            for unsubscribe in unsubscribes:
                unsubscribe()

        return detach

    async def deliver(self, event: Event) -> None:
        """Deliver to every sink (an event of another workspace or run: to none)."""
        if not self.wants(event):
            return
        for sink in self.sinks:
            try:
                await sink.send(event)
                self.delivered += 1
            except EmailInfraError as exc:
                self.failures.append(f"{sink.name}: {exc}")
                _log.error("alert sink %s failed: %s", sink.name, exc)

    async def close(self) -> None:
        """Close every sink."""
        for sink in self.sinks:
            await sink.close()

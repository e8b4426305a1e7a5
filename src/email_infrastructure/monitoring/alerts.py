"""Alerts: state-change events from the bus, delivered to every configured sink."""

from __future__ import annotations

import logging
from collections.abc import Callable

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.monitoring.sinks import Sink

_log = logging.getLogger(__name__)


class AlertDispatcher:
    """Sends `monitoring.check.failed|recovered` to each sink; one failing sink never stops another."""

    def __init__(self, sinks: list[Sink]) -> None:
        self.sinks = sinks
        self.delivered = 0
        self.failures: list[str] = []

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
        """Deliver to every sink."""
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

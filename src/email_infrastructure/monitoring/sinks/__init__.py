"""Alert sinks, registered by the `type` used in the inventory."""

from __future__ import annotations

from email_infrastructure.core.inventory.schema import SinkSpec
from email_infrastructure.monitoring.sinks.base import Sink
from email_infrastructure.monitoring.sinks.email import EmailSink
from email_infrastructure.monitoring.sinks.slack import SlackSink
from email_infrastructure.monitoring.sinks.webhook import WebhookSink

SINKS: dict[str, type[Sink]] = {"slack": SlackSink, "webhook": WebhookSink, "email": EmailSink}


def build_sink(index: int, spec: SinkSpec) -> Sink:
    """Instantiate one configured sink."""
    return SINKS[spec.type](spec.name or f"{spec.type}-{index}", spec.settings)


__all__ = ["SINKS", "Sink", "build_sink"]

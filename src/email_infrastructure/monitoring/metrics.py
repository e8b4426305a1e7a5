"""Prometheus exposition of check states (alert through Grafana / Alertmanager)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from email_infrastructure.storage.models import CheckState

STATES = ("ok", "warning", "unknown", "error")


class StateCollector(Collector):
    """Serves the latest snapshot of check states; the monitor refreshes it after each run."""

    def __init__(self, states: Sequence[CheckState] = ()) -> None:
        self.states: Sequence[CheckState] = states

    def update(self, states: Sequence[CheckState]) -> None:
        """Replace the snapshot."""
        self.states = states

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One state gauge per (subject, check, state), last run and state-since timestamps."""
        state = GaugeMetricFamily(
            "email_infra_check_state",
            "1 for the current state of a check, 0 for the others",
            labels=["subject", "check", "state"],
        )
        checked = GaugeMetricFamily(
            "email_infra_check_last_run_timestamp_seconds",
            "When the check last ran",
            labels=["subject", "check"],
        )
        since = GaugeMetricFamily(
            "email_infra_check_state_since_timestamp_seconds",
            "When the check entered its state",
            labels=["subject", "check"],
        )
        for row in self.states:
            for name in STATES:
                state.add_metric([row.subject, row.check, name], 1.0 if row.status == name else 0.0)
            checked.add_metric([row.subject, row.check], row.checked_at.timestamp())
            since.add_metric([row.subject, row.check], row.since.timestamp())
        yield state
        yield checked
        yield since


def exposition(states: Iterable[CheckState]) -> bytes:
    """The text format for a set of states."""
    registry = CollectorRegistry()
    registry.register(StateCollector(list(states)))
    return generate_latest(registry)

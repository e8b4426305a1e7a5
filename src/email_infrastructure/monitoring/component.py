"""The monitoring component."""

from __future__ import annotations

from email_infrastructure.core.component import BaseComponent, Health, HealthStatus


class MonitoringComponent(BaseComponent):
    """Checks of the live world, their history and alerts."""

    name = "monitoring"

    async def health_check(self) -> Health:
        """Unconfigured without domains to watch; otherwise unknown here (the checks' states live in
        the history: `email-infra metrics`, `email-infra monitor --once`)."""
        inventory = self.context.inventory
        if inventory is None or not inventory.domains:
            return Health(HealthStatus.UNCONFIGURED, "no domains to watch")
        return Health(
            HealthStatus.UNKNOWN,
            f"{len(inventory.domains)} domain(s) to watch; check states: `email-infra metrics`",
        )

"""The monitoring component."""

from __future__ import annotations

from email_infrastructure.core.component import BaseComponent, Health, HealthStatus


class MonitoringComponent(BaseComponent):
    """Checks of the live world, their history and alerts."""

    name = "monitoring"

    async def health_check(self) -> Health:
        """Unconfigured without domains to watch; unknown until checks have run."""
        inventory = self.context.inventory
        if inventory is None or not inventory.domains:
            return Health(HealthStatus.UNCONFIGURED, "no domains to watch")
        return Health(HealthStatus.UNKNOWN, f"{len(inventory.domains)} domain(s); no check has run yet")

"""The DNS component."""

from __future__ import annotations

from email_infrastructure.core.component import BaseComponent, Health, HealthStatus
from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.dns.providers import build_provider


class DnsComponent(BaseComponent):
    """Records of sending domains at DNS providers."""

    name = "dns"

    async def health_check(self) -> Health:
        """Ask every declared DNS provider whether it is reachable and authorised."""
        inventory = self.context.inventory
        if inventory is None or not inventory.providers.dns:
            return Health(HealthStatus.UNCONFIGURED, "no DNS provider in the inventory")
        checks: dict[str, str] = {}
        down = []
        for name, spec in inventory.providers.dns.items():
            provider = build_provider(name, spec, self.context.settings.data_dir)
            try:
                health = await provider.health()
            except EmailInfraError as exc:
                health = Health(HealthStatus.DOWN, str(exc))
            finally:
                await provider.close()
            checks[name] = f"{health.status.value}: {health.detail}"
            if health.status is HealthStatus.DOWN:
                down.append(f"{name}: {health.detail}")
        if down:
            return Health(HealthStatus.DOWN, "; ".join(down), checks)
        return Health(HealthStatus.OK, "; ".join(f"{n}: {c}" for n, c in checks.items()), checks)

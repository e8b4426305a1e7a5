"""Status: the health of storage and of each component, for the desired state or a file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from email_infrastructure.core.component import ComponentContext, Health, HealthStatus
from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.inventory import Inventory, LoadedInventory
from email_infrastructure.services.app import App

if TYPE_CHECKING:
    from email_infrastructure.core.component import BaseComponent


@dataclass
class StatusReport:
    """Health by component, and where state lives."""

    state: str
    components: dict[str, Health]

    @property
    def down(self) -> bool:
        """True when any component is down."""
        return any(h.status is HealthStatus.DOWN for h in self.components.values())

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "state": self.state,
            "components": {n: {"status": h.status.value, "detail": h.detail} for n, h in self.components.items()},
        }


def components() -> list[type[BaseComponent]]:
    """The components with a health check of their own, in the order `status` shows them (imported
    on use: they pull in providers). Monitoring's health comes from the stored check states."""
    from email_infrastructure.dns.component import DnsComponent
    from email_infrastructure.mailcow.component import MailcowComponent
    from email_infrastructure.vps.component import VpsComponent

    return [DnsComponent, MailcowComponent, VpsComponent]


async def _storage(app: App) -> Health:
    if not app.has_state():
        return Health(HealthStatus.OK, f"nothing stored yet ({app.state_location})")
    try:
        db = await app.database()
    except EmailInfraError as exc:
        return Health(HealthStatus.DOWN, str(exc))
    return Health(HealthStatus.OK, f"{db.engine.dialect.name}: {app.state_location}")


async def _monitoring(app: App, inventory: Inventory | None) -> Health:
    """From the stored check states: error states make it degraded."""
    from email_infrastructure.services.monitoring import check_states

    if inventory is None or not inventory.domains:
        return Health(HealthStatus.UNCONFIGURED, "no domains to watch")
    never = f"{len(inventory.domains)} domain(s), never checked (`email-infra monitor`)"
    if not app.has_state():
        return Health(HealthStatus.UNKNOWN, never)
    states = await check_states(app)
    failing = sorted({f"{s.subject} {s.check}" for s in states if s.status == "error"})
    if failing:
        shown = ", ".join(failing[:5]) + (f" and {len(failing) - 5} more" if len(failing) > 5 else "")
        return Health(HealthStatus.DEGRADED, f"{len(failing)} check(s) failing: {shown}")
    if not states:
        return Health(HealthStatus.UNKNOWN, never)
    return Health(HealthStatus.OK, f"{len(states)} check states, none failing")


async def _sequencers(app: App, inventory: Inventory | None) -> Health:
    """Each sequencer's health of our mailboxes, from the stored `sequencer` check states."""
    from email_infrastructure.services.sequencer_health import status_line

    return await status_line(app, inventory)


async def status(app: App, source: LoadedInventory | None = None) -> StatusReport:
    """Storage first, then each component of the file's (or the stored) desired state."""
    from email_infrastructure.services.desired import desired_inventory
    from email_infrastructure.services.registration_checks import registration_health

    results = {"storage": await _storage(app)}
    inventory: Inventory | None = None
    if source is not None:
        inventory = source.inventory
    elif results["storage"].status is HealthStatus.OK:
        inventory = await desired_inventory(app)
    context = ComponentContext(settings=app.settings, bus=app.bus, inventory=inventory)
    for cls in components():
        component = cls(context)
        try:
            await component.initialize()
            results[component.name] = await component.health_check()
        except EmailInfraError as exc:
            results[component.name] = Health(HealthStatus.DOWN, str(exc))
        finally:
            await component.cleanup()
    results["servers"] = await _servers(app, inventory)
    results["monitoring"] = await _monitoring(app, inventory)
    results["sequencers"] = await _sequencers(app, inventory)
    results["registration"] = await registration_health(app, inventory)
    return StatusReport(app.state_location, results)


async def _servers(app: App, inventory: Inventory | None) -> Health:
    """Each mail server's outbound port 25: a blocked one cannot deliver (degraded)."""
    from email_infrastructure.services.vps import server_views

    if inventory is None or not inventory.servers:
        return Health(HealthStatus.UNCONFIGURED, "no servers")
    views = await server_views(app, inventory)
    text = "; ".join(
        f"{v.name}: port 25 {v.port25}" + (f" ({v.port25_source})" if v.port25_source else "") for v in views
    )
    details = {
        v.name: f"port25={v.port25}" + (f" ipv4={v.facts['ipv4']}" if v.facts.get("ipv4") else "") for v in views
    }
    if any(v.port25 == "blocked" for v in views):
        return Health(HealthStatus.DEGRADED, text, details)
    return Health(HealthStatus.OK if all(v.port25 == "open" for v in views) else HealthStatus.UNKNOWN, text, details)

"""`email-infra status`: each component's health."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from email_infrastructure.cli.common import JsonOption, console, inventory, print_json, run, settings

if TYPE_CHECKING:
    from email_infrastructure.core.component import BaseComponent, ComponentContext, Health

_STYLE = {"ok": "green", "degraded": "yellow", "down": "red", "unconfigured": "dim", "unknown": "cyan"}


def components() -> list[type[BaseComponent]]:
    """Every component, in the order `status` shows them (imported on use: they pull in providers)."""
    from email_infrastructure.dns.component import DnsComponent
    from email_infrastructure.mailcow.component import MailcowComponent
    from email_infrastructure.monitoring.component import MonitoringComponent
    from email_infrastructure.vps.component import VpsComponent

    return [DnsComponent, MailcowComponent, VpsComponent, MonitoringComponent]


async def _storage_health() -> Health:
    from email_infrastructure.core.component import Health, HealthStatus
    from email_infrastructure.core.errors import EmailInfraError
    from email_infrastructure.storage.db import open_database

    try:
        db = await open_database(settings())
    except EmailInfraError as exc:
        return Health(HealthStatus.DOWN, str(exc))
    await db.close()
    return Health(HealthStatus.OK, db.engine.dialect.name)


async def collect(context: ComponentContext) -> dict[str, Health]:
    """Initialise every component, ask its health, clean up."""
    from email_infrastructure.core.component import Health, HealthStatus
    from email_infrastructure.core.errors import EmailInfraError

    results = {"storage": await _storage_health()}
    for cls in components():
        component = cls(context)
        try:
            await component.initialize()
            results[component.name] = await component.health_check()
        except EmailInfraError as exc:
            results[component.name] = Health(HealthStatus.DOWN, str(exc))
        finally:
            await component.cleanup()
    return results


def status(
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Inventory file.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Print each component's health; exit 1 when any is down."""
    from email_infrastructure.core.component import ComponentContext, HealthStatus
    from email_infrastructure.core.events import EventBus

    inv = inventory(file, quiet=as_json).inventory if file else None
    results = run(collect(ComponentContext(settings=settings(), bus=EventBus(), inventory=inv)))
    if as_json:
        data: dict[str, Any] = {name: {"status": h.status.value, "detail": h.detail} for name, h in results.items()}
        print_json({"components": data})
    else:
        table = Table("component", "status", "detail")
        for name, health in results.items():
            style = _STYLE[health.status.value]
            table.add_row(name, f"[{style}]{health.status.value}[/]", health.detail)
        console.print(table)
    if any(h.status is HealthStatus.DOWN for h in results.values()):
        raise typer.Exit(1)

"""`email-infra monitor` and `email-infra metrics`: scheduled checks, history, alerts, Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from email_infrastructure.cli.audit import NameserverOption, _from_inventory, _resolver
from email_infrastructure.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOption,
    JsonOption,
    console,
    inventory,
    print_json,
    run,
    settings,
)
from email_infrastructure.core.events import EventBus
from email_infrastructure.monitoring.audit import AuditReport, audit
from email_infrastructure.monitoring.context import AuditContext
from email_infrastructure.monitoring.dnsbl import resolve_zones

if TYPE_CHECKING:
    from email_infrastructure.monitoring.monitor import RunSummary


def monitor(
    file: InventoryOption = DEFAULT_INVENTORY,
    once: Annotated[bool, typer.Option("--once", help="Run every check family once, then exit.")] = False,
    nameserver: NameserverOption = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT while running.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run checks at the inventory's intervals, store every result, alert on changes of state."""
    # Storage, sinks and the metrics server are imported on use (faster start for other commands).
    from prometheus_client import CollectorRegistry, start_http_server

    from email_infrastructure.monitoring.alerts import AlertDispatcher
    from email_infrastructure.monitoring.metrics import StateCollector
    from email_infrastructure.monitoring.monitor import FAMILIES, Monitor
    from email_infrastructure.monitoring.sinks import build_sink
    from email_infrastructure.storage.db import open_database
    from email_infrastructure.storage.repositories import CheckHistory, EventLog

    loaded = inventory(file, quiet=as_json)
    spec = loaded.inventory.monitoring
    intervals = spec.intervals.model_dump()

    async def go() -> list[RunSummary]:
        found = await _from_inventory(file, [])
        targets, fallback_ns = found.targets, found.nameservers
        db = await open_database(settings())
        bus = EventBus()
        EventLog(db.sessions).attach(bus)
        dispatcher = AlertDispatcher([build_sink(i, s) for i, s in enumerate(spec.alert_sinks)])
        dispatcher.attach(bus)
        zones = resolve_zones(found.zones, dqs_key=found.dqs_key)
        history = CheckHistory(db.sessions)

        async def runner(checks: set[str]) -> AuditReport:
            resolver = _resolver(nameserver, fallback_ns)
            try:
                return await audit(targets, AuditContext(resolver), checks, zones)
            finally:
                await resolver.close()

        service = Monitor(runner, history, bus, intervals)
        try:
            if once:
                return await service.run_once()
            collector = StateCollector(await history.states())
            if metrics_port:
                registry = CollectorRegistry()
                registry.register(collector)
                start_http_server(metrics_port, addr="127.0.0.1", registry=registry)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)

            async def refresh() -> None:
                while not stop.is_set():
                    collector.update(await history.states())
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 15)

            await asyncio.gather(service.run_forever(stop), refresh())
            return []
        finally:
            await dispatcher.close()
            await db.close()

    summaries = run(go())
    if as_json:
        print_json(
            {
                "runs": [
                    {
                        "family": s.family,
                        "status": s.report.status.value,
                        "changes": [
                            {"subject": t.subject, "check": t.check, "from": t.old, "to": t.new} for t in s.transitions
                        ],
                    }
                    for s in summaries
                ],
                "report": _merged(summaries),
            }
        )
    else:
        table = Table("family", "checks", "status", "state changes")
        for s in summaries:
            table.add_row(
                s.family,
                ",".join(sorted(FAMILIES[s.family])),
                s.report.status.value,
                str(len(s.transitions)),
            )
        console.print(table)
    if any(s.report.status.value == "error" for s in summaries):
        raise typer.Exit(1)


def _merged(summaries: list[RunSummary]) -> dict[str, list[dict[str, Any]]]:
    """One audit-shaped report from the families of a run."""
    merged: dict[str, dict[str, dict[str, Any]]] = {"domains": {}, "ips": {}}
    for s in summaries:
        data = s.report.to_json()
        for kind, key in (("domains", "domain"), ("ips", "ip")):
            for item in data[kind]:
                entry = merged[kind].setdefault(item[key], {key: item[key], "checks": {}})
                entry["checks"].update(item["checks"])
    return {kind: list(entries.values()) for kind, entries in merged.items()}


def metrics() -> None:
    """Print the current check states in the Prometheus text format (for a textfile collector)."""
    from email_infrastructure.monitoring.metrics import exposition
    from email_infrastructure.storage.db import open_database
    from email_infrastructure.storage.repositories import CheckHistory

    async def go() -> bytes:
        db = await open_database(settings())
        try:
            return exposition(await CheckHistory(db.sessions).states())
        finally:
            await db.close()

    sys.stdout.write(run(go()).decode())

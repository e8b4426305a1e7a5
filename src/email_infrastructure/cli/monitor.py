"""`email-infra monitor` and `email-infra metrics`: renderers of the monitoring services."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from email_infrastructure.cli.audit import NameserverOption
from email_infrastructure.cli.common import (
    JsonOption,
    SourceOption,
    application,
    call,
    console,
    print_json,
    run,
    source,
)

if TYPE_CHECKING:
    from email_infrastructure.monitoring.monitor import RunSummary


def monitor(
    file: SourceOption = None,
    once: Annotated[bool, typer.Option("--once", help="Run every check family once, then exit.")] = False,
    nameserver: NameserverOption = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT while running.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run checks at the intervals of the desired state (or -f FILE), store every result, alert on
    changes of state."""
    from email_infrastructure.monitoring.monitor import FAMILIES
    from email_infrastructure.services.monitoring import MonitorRequest, MonitorService

    request = MonitorRequest(source=source(file, quiet=as_json), nameservers=list(nameserver or []))

    async def go() -> list[RunSummary]:
        async with application() as app:
            service = await MonitorService.create(app, request)
            try:
                if once:
                    return await service.run_once()
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await service.run_forever(stop, metrics_port=metrics_port)
                return []
            finally:
                await service.close()

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
                s.family, ",".join(sorted(FAMILIES[s.family])), s.report.status.value, str(len(s.transitions))
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
    from email_infrastructure.services.monitoring import metrics_text

    sys.stdout.write(call(metrics_text).decode())

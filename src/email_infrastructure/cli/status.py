"""`email-infra status`: storage and each component's health."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import JsonOption, SourceOption, call, console, print_json, source

_STYLE = {"ok": "green", "degraded": "yellow", "down": "red", "unconfigured": "dim", "unknown": "cyan"}


def status(file: SourceOption = None, as_json: JsonOption = False) -> None:
    """Print the health of storage and each component; exit 1 when any is down."""
    from email_infrastructure.services.status import status as status_service

    loaded = source(file, quiet=as_json)
    report = call(lambda app: status_service(app, loaded))
    if as_json:
        print_json(report.to_json())
    else:
        table = Table("component", "status", "detail", caption=f"state: {report.state}")
        for name, health in report.components.items():
            style = _STYLE[health.status.value]
            table.add_row(name, f"[{style}]{health.status.value}[/]", escape(health.detail))
        console.print(table)
    if report.down:
        raise typer.Exit(1)

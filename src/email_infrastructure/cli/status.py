"""`email-infra status`: storage and each component's health."""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import (
    AllWorkspacesOption,
    JsonOption,
    SourceOption,
    call,
    call_each,
    console,
    print_json,
    source,
)

_STYLE = {"ok": "green", "degraded": "yellow", "down": "red", "unconfigured": "dim", "unknown": "cyan"}


def status(file: SourceOption = None, all_workspaces: AllWorkspacesOption = False, as_json: JsonOption = False) -> None:
    """Print the health of storage and each component; exit 1 when any is down."""
    from email_infrastructure.services.status import status as status_service

    loaded = source(file, quiet=as_json)
    if all_workspaces:
        reports = call_each(lambda app: status_service(app, loaded))
    else:
        reports = [("", call(lambda app: status_service(app, loaded)))]
    if as_json:
        if all_workspaces:
            print_json({"workspaces": {name: report.to_json() for name, report in reports}})
        else:
            print_json(reports[0][1].to_json())
    for name, report in [] if as_json else reports:
        title = f"workspace {escape(name)}" if name else None
        table = Table("component", "status", "detail", title=title, caption=f"state: {report.state}")
        for component, health in report.components.items():
            style = _STYLE[health.status.value]
            table.add_row(component, f"[{style}]{health.status.value}[/]", escape(health.detail))
        console.print(table)
    if any(report.down for _, report in reports):
        raise typer.Exit(1)

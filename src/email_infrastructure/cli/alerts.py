"""`email-infra alerts list|add|remove|test`: the workspace's alert sinks in the stored desired state
(the dashboard's `/admin/alerts`, through the same service: services/alert_sinks.py)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from email_infrastructure.cli.common import JsonOption, call, console, err_console, print_json

app = typer.Typer(help="Alert sinks of the stored desired state (webhook, slack, email).", no_args_is_help=True)
TakeOver = Annotated[
    bool,
    typer.Option("--force", help="Take the monitoring settings over from the inventory file that owns them."),
]


@app.command("list")
def list_sinks(as_json: JsonOption = False) -> None:
    """Every sink: name, type and target, secrets masked (env:NAME references as written)."""
    from rich.table import Table

    from email_infrastructure.services.alert_sinks import list_sinks as listed

    found = call(listed)
    if as_json:
        print_json(
            {"owner": found.owner, "sinks": [{"name": s.name, "type": s.type, "target": s.target} for s in found.sinks]}
        )
        return
    table = Table("name", "type", "target")
    for s in found.sinks:
        table.add_row(escape(s.name), s.type, escape(s.target))
    console.print(table)
    if found.owner is not None:
        err_console.print(f"[dim]owned by {escape(found.owner)}[/]")


@app.command("add")
def add(
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="webhook, slack or email.")],
    name: Annotated[str, typer.Option("--name", help="Its name (default: TYPE-N).")] = "",
    url: Annotated[str, typer.Option("--url", help="webhook: the URL to POST to.")] = "",
    secret: Annotated[str, typer.Option("--secret", help="webhook: signing secret, env:NAME.")] = "",
    webhook_url: Annotated[str, typer.Option("--webhook-url", help="slack: the webhook URL, env:NAME.")] = "",
    to: Annotated[str, typer.Option("--to", help="email: recipients, comma-separated.")] = "",
    sender: Annotated[str, typer.Option("--from", help="email: the sender address.")] = "",
    host: Annotated[str, typer.Option("--host", help="email: SMTP host (localhost).")] = "",
    port: Annotated[str, typer.Option("--port", help="email: SMTP port (587).")] = "",
    starttls: Annotated[str, typer.Option("--starttls", help="email: auto, always or never.")] = "",
    username: Annotated[str, typer.Option("--username", help="email: SMTP user.")] = "",
    password: Annotated[str, typer.Option("--password", help="email: SMTP password, env:NAME.")] = "",
    force: TakeOver = False,
) -> None:
    """Add a sink, checked as an inventory file's would be; the next monitor run uses it."""
    from email_infrastructure.services.alert_sinks import add_sink

    fields = {
        "name": name,
        "url": url,
        "secret": secret,
        "webhook_url": webhook_url,
        "to": to,
        "from": sender,
        "host": host,
        "port": port,
        "starttls": starttls,
        "username": username,
        "password": password,
    }
    added, warnings = call(lambda a: add_sink(a, kind, fields, take_over=force, source="cli"))
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}")
    console.print(f"added alert sink {escape(added.name)} ({added.type} → {escape(added.target)})")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="The sink's name.")], force: TakeOver = False) -> None:
    """Remove a sink."""
    from email_infrastructure.services.alert_sinks import remove_sink

    removed = call(lambda a: remove_sink(a, name, take_over=force, source="cli"))
    console.print(f"removed alert sink {escape(removed.name)}")


@app.command("test")
def send_test(name: Annotated[str, typer.Argument(help="The sink's name.")]) -> None:
    """Send a test alert through the sink now (exit 1 when it cannot be delivered)."""
    from email_infrastructure.services.alert_sinks import send_test_alert

    sent = call(lambda a: send_test_alert(a, name, source="cli"))
    console.print(f"a test alert was delivered to {escape(sent.name)} ({escape(sent.target)})")

"""`email-infra server list|show|cloud-init|port25`: mail servers, declared and as created."""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import JsonOption, SourceOption, call, console, print_json, source

if TYPE_CHECKING:
    from email_infrastructure.services.vps import ServerView

app = typer.Typer(
    help="Mail servers: those a VPS provider creates (with Mailcow, by cloud-init) and existing ones.",
    no_args_is_help=True,
)


class Port25(StrEnum):
    """Outbound port 25 states."""

    unknown = "unknown"
    blocked = "blocked"
    open = "open"


def _port25(view: ServerView) -> str:
    colour = {"open": "green", "blocked": "red"}.get(view.port25, "yellow")
    return f"[{colour}]{view.port25}[/] ({escape(view.port25_source)})" if view.port25_source else view.port25


@app.command("list")
def list_command(file: SourceOption = None, as_json: JsonOption = False) -> None:
    """Every server: declared, created (provider id, addresses, reverse DNS) and its port 25 state."""
    from email_infrastructure.services.vps import list_servers

    loaded = source(file, quiet=as_json)
    views = call(lambda app: list_servers(app, loaded))
    if as_json:
        print_json([v.to_json() for v in views])
        return
    table = Table("name", "hostname", "provider", "status", "ipv4", "ipv6", "port 25")
    for v in views:
        status = str(v.facts.get("status", "to create" if v.provider else "existing"))
        if v.facts.get("last_error"):
            status += " [red](last apply failed)[/]"
        table.add_row(
            escape(v.name),
            escape(v.hostname),
            escape(v.provider or "-"),
            status,
            escape(str(v.facts.get("ipv4") or "-")),
            escape(str(v.facts.get("ipv6") or "-")),
            _port25(v),
        )
    console.print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="The server's name in the inventory.")],
    file: SourceOption = None,
    as_json: JsonOption = False,
) -> None:
    """One server in full: what is declared and what its provider reported."""
    from email_infrastructure.services.vps import show_server

    loaded = source(file, quiet=as_json)
    view = call(lambda app: show_server(app, name, loaded))
    if as_json:
        print_json(view.to_json())
        return
    table = Table("field", "value", title=f"{view.name} ({view.hostname})")
    table.columns[-1].overflow = "fold"
    table.add_row("provider", escape(view.provider or "- (existing server)"))
    table.add_row("created by us", "yes" if view.created else "no")
    table.add_row("port 25", _port25(view))
    for key, value in sorted(view.declared.items()):
        table.add_row(f"declared {key}", escape(str(value)))
    for key, value in view.facts.items():
        table.add_row(key, escape(str(value if value not in (None, {}) else "-")))
    console.print(table)


@app.command("cloud-init")
def cloud_init_command(
    name: Annotated[str, typer.Argument(help="The server's name in the inventory.")],
    file: SourceOption = None,
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="Include the Mailcow API key (the output then holds a secret).")
    ] = False,
) -> None:
    """Print the cloud-init user data the server is created with (Docker, Mailcow, firewall), for review."""
    from email_infrastructure.services.vps import cloud_init

    loaded = source(file)
    text = call(lambda app: cloud_init(app, name, loaded, show_secrets=show_secrets))
    sys.stdout.write(text)


@app.command("port25")
def port25(
    name: Annotated[str, typer.Argument(help="A server we created.")],
    state: Annotated[Port25, typer.Argument(help="blocked, open or unknown (from a probe or the provider).")],
) -> None:
    """Record outbound port 25 of a server we created (the install's probe writes it to
    /var/lib/email-infra/port25 on the server; a provider's unblock ticket says `open`)."""
    from email_infrastructure.services.vps import record_port25

    call(lambda app: record_port25(app, name, state.value))
    console.print(f"{escape(name)}: port 25 recorded as {state.value}")

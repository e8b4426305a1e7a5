"""`email-infra apikey create|list|revoke`: keys of the REST API (shown once, stored as an HMAC)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import JsonOption, call, console, err_console, print_json, workspace_scope

app = typer.Typer(help="API keys for the REST API (`Authorization: Bearer <key>`).", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A name for the key (who or what uses it).")],
    scope: Annotated[str, typer.Option("--scope", help="read, write or admin (each includes the ones before).")],
    operator: Annotated[
        bool,
        typer.Option("--operator", help="A key of every workspace (else: of the workspace the command acts in)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create a key of one workspace (or every one, --operator) and print it once: only its HMAC is stored."""
    from email_infrastructure.services.apikeys import ApiKeyService, check_scope

    wanted = check_scope(scope)
    workspace = None if operator else workspace_scope().name
    created = call(lambda app: ApiKeyService(app).create(name, wanted, source="cli", workspace=workspace))
    if as_json:
        print_json({**created.info.to_json(), "key": created.key})
        return
    err_console.print(f"created API key {escape(name)} ({wanted}); it is shown only now:")
    # stdout gets the key alone, so that `KEY=$(email-infra apikey create …)` works
    typer.echo(created.key)


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Every key: name, scope, prefix, when created and last used, revoked or not (never the key)."""
    from email_infrastructure.services.apikeys import ApiKeyService

    keys = call(lambda app: ApiKeyService(app).list())
    if as_json:
        print_json([k.to_json() for k in keys])
        return
    table = Table("name", "scope", "workspace", "prefix", "created", "last used", "state")
    for k in keys:
        table.add_row(
            escape(k.name),
            k.scope,
            escape(k.workspace) if k.workspace else "[dim]every (operator)[/]",
            k.prefix,
            k.created_at.isoformat(timespec="seconds"),
            k.last_used_at.isoformat(timespec="seconds") if k.last_used_at else "never",
            "revoked" if k.revoked_at else "active",
        )
    console.print(table)


@app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from email_infrastructure.services.apikeys import ApiKeyService

    call(lambda app: ApiKeyService(app).revoke(name, source="cli"))
    console.print(f"revoked API key {escape(name)}")

"""`email-infra workspace create|list|show|rename|remove`: the clients of an agency, isolated from each other."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from email_infrastructure.cli.common import call, console, print_json

if TYPE_CHECKING:
    from email_infrastructure.services.workspaces import WorkspaceInfo

app = typer.Typer(
    help="Workspaces: one per client, each with its own inventory, defaults, keys, alerts and reports.",
    no_args_is_help=True,
)


class Format(StrEnum):
    """Output formats of `workspace list` and `show`."""

    table = "table"
    json = "json"


FormatOption = Annotated[Format, typer.Option("--format", help="table or json.")]
NameArgument = Annotated[str, typer.Argument(help="The workspace's name (lowercase letters, digits, hyphens).")]
_COLUMNS = ("domains", "mailboxes", "servers", "failing_checks", "api_keys")


def _table(rows: list[WorkspaceInfo]) -> None:
    table = Table("workspace", *(c.replace("_", " ") for c in _COLUMNS), "created")
    for row in rows:
        data = row.as_dict()
        table.add_row(escape(row.name), *(str(data[c]) for c in _COLUMNS), row.created_at[:10])
    console.print(table)


@app.command("create")
def create(name: NameArgument, output: FormatOption = Format.table) -> None:
    """Create an empty workspace (`apply -f` of an inventory naming a new workspace creates it too)."""
    from email_infrastructure.services import workspaces

    made = call(lambda app: workspaces.create(app, name))
    if output is Format.json:
        print_json(made.as_dict())
    else:
        console.print(f"created workspace {escape(made.name)}")


@app.command("list")
def list_command(output: FormatOption = Format.table) -> None:
    """Every workspace with what it holds: domains, mailboxes, servers, failing checks, API keys."""
    from email_infrastructure.services import workspaces

    rows = call(workspaces.list_workspaces)
    if output is Format.json:
        print_json([r.as_dict() for r in rows])
    else:
        _table(rows)


@app.command("show")
def show(name: NameArgument, output: FormatOption = Format.table) -> None:
    """One workspace with what it holds."""
    from email_infrastructure.services import workspaces

    row = call(lambda app: workspaces.show(app, name))
    if output is Format.json:
        print_json(row.as_dict())
    else:
        _table([row])


@app.command("rename")
def rename(old: NameArgument, new: Annotated[str, typer.Argument(help="The new name.")]) -> None:
    """Rename a workspace; its rows, keys and history stay (inventories naming the old name must follow)."""
    from email_infrastructure.services import workspaces

    call(lambda app: workspaces.rename(app, old, new))
    console.print(f"renamed workspace {escape(old)} to {escape(new)}")


@app.command("remove")
def remove(
    name: NameArgument,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Remove a workspace that still holds domains: first delete what its applies created at "
            "providers (records, mail domains, mailboxes; an apply --prune of its emptied desired state), then "
            "every row it holds (desired state, history, reports, keys, secrets). VPS servers are not destroyed.",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Let the pruning apply delete more than the safety threshold allows.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Remove a workspace: refused while it holds anything unless --prune."""
    from email_infrastructure.services.workspace_removal import remove as remove_workspace

    if prune and not yes:
        typer.confirm(f"delete everything workspace {name} created, then the workspace?", abort=True)
    done = call(lambda app: remove_workspace(app, name, prune=prune, force=force))
    held = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in done.counts.items() if v)
    console.print(f"removed workspace {escape(done.name)}" + (f" ({held})" if held else ""))

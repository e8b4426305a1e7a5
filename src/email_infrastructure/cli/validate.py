"""`email-infra validate`: check an inventory and list every problem."""

from __future__ import annotations

import typer
from rich.markup import escape

from email_infrastructure.cli.common import (
    DEFAULT_INVENTORY,
    InventoryOption,
    JsonOption,
    console,
    err_console,
    inventory,
    print_json,
)
from email_infrastructure.core.errors import InventoryError


def validate(file: InventoryOption = DEFAULT_INVENTORY, as_json: JsonOption = False) -> None:
    """Validate an inventory file; exit 0 when valid, 2 with every problem as FILE:LINE:COL."""
    try:
        loaded = inventory(file, quiet=as_json)
    except InventoryError as exc:
        if as_json:
            print_json({"valid": False, "problems": exc.structured(), "warnings": []})
        else:
            for problem in exc.problems:
                err_console.print(f"[red]error:[/] {escape(problem)}", soft_wrap=True)
            err_console.print(f"{len(exc.problems)} problem(s) in {escape(str(file))}")
        raise typer.Exit(2) from None
    inv = loaded.inventory
    if as_json:
        print_json({"valid": True, "problems": [], "warnings": [*loaded.warnings, *loaded.advice]})
        return
    for advice in loaded.advice:
        err_console.print(f"[yellow]warning:[/] {escape(advice)}", soft_wrap=True)
    mailboxes = sum(len(d.mailboxes) for d in inv.domains)
    counts = f"{len(inv.domains)} domain(s), {mailboxes} mailbox(es), {len(inv.servers)} server(s)"
    console.print(f"[green]valid:[/] {escape(str(file))}: {counts}")

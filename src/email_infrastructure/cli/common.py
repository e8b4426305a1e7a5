"""What every command shares: consoles, settings, inventory loading, JSON output, async runs."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from rich.text import Text

    from email_infrastructure.core.inventory import LoadedInventory
    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import App
    from email_infrastructure.services.scope import Scope

# Modules behind the commands are imported when a command runs, not when the CLI starts:
# `--help` and a plain `audit` should not pay for pydantic models, SQLAlchemy or httpx.

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DEFAULT_INVENTORY = Path("inventory.yaml")
InventoryOption = Annotated[
    Path,
    typer.Option("--file", "-f", help="Inventory file (YAML, version 1).", show_default=True),
]
#: for commands that work on the stored desired state unless a file is given
SourceOption = Annotated[
    Path | None,
    typer.Option(
        "--file",
        "-f",
        help="Inventory file (YAML, version 1). Without it: the desired state stored in the database.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
AllWorkspacesOption = Annotated[
    bool, typer.Option("--all-workspaces", help="Every workspace in turn (the operator's view), not one.")
]


@cache
def settings() -> Settings:
    """Settings for this process (read once)."""
    from email_infrastructure.core.settings import load_settings

    return load_settings()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from a synchronous command."""
    import asyncio  # here, not at the top: `--version` and `--help` need no event loop (~15 % of the start)

    return asyncio.run(coro)


#: gen-0 every 100,000 allocations (Python's default: 700), full collections rarely
BULK_GC_THRESHOLD = (100_000, 50, 100)


@contextmanager
def bulk_allocation() -> Iterator[None]:
    """Collect cyclic garbage rarely while a command builds a large object graph (a plan), then as before.

    A plan of 10,000 domains makes millions of objects that all live until it is printed; at the
    default thresholds the collector walked them again and again (the planning phase took ~2x as long).
    """
    before = gc.get_threshold()
    gc.set_threshold(*BULK_GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def inventory(path: Path, *, quiet: bool = False) -> LoadedInventory:
    """Load and validate an inventory, printing its warnings to stderr."""
    from email_infrastructure.services.inventory_files import load_inventory_file

    if not path.exists():
        from email_infrastructure.core.errors import InventoryError

        raise InventoryError(
            [f"{path}:1:1: no such inventory file; create one with `email-infra init`, or name one with -f FILE"]
        )
    loaded = load_inventory_file(path)
    _workspace["file"] = loaded.inventory.workspace
    if not quiet:
        for warning in loaded.warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", soft_wrap=True)
    return loaded


def source(path: Path | None, *, quiet: bool = False) -> LoadedInventory | None:
    """The inventory named by -f, or None for the stored desired state."""
    return None if path is None else inventory(path, quiet=quiet)


#: the workspace named by `--workspace` and by the inventory file the command loaded
_workspace: dict[str, str | None] = {"flag": None, "file": None}


def choose_workspace(name: str | None) -> None:
    """Record `--workspace NAME` (the root option) for the App of this command (and forget an earlier file's)."""
    _workspace["flag"], _workspace["file"] = name, None


def workspace_named() -> bool:
    """True when the command was told a workspace (`--workspace`, EMAIL_INFRA_WORKSPACE or its file)."""
    from email_infrastructure.core.names import DEFAULT_WORKSPACE

    return bool(_workspace["flag"] or _workspace["file"] or settings().workspace != DEFAULT_WORKSPACE)


def workspace_scope() -> Scope:
    """The workspace this command acts in: `--workspace`, EMAIL_INFRA_WORKSPACE, the file's, or `default`."""
    from email_infrastructure.core.names import DEFAULT_WORKSPACE
    from email_infrastructure.services.workspaces import scope_for

    configured = settings().workspace
    flag = _workspace["flag"] or (configured if configured != DEFAULT_WORKSPACE else None)
    return scope_for(flag, _workspace["file"], configured)


@asynccontextmanager
async def application(scope: Scope | None = None) -> AsyncIterator[App]:
    """The App of this command (settings read once), acting in the command's workspace (or `scope`)."""
    from email_infrastructure.services.app import open_app
    from email_infrastructure.services.scope import acting_in

    with acting_in(scope or workspace_scope()):
        async with open_app(settings()) as app:
            yield app


def call(work: Callable[[App], Awaitable[T]]) -> T:
    """Run one service call with the command's App, from a synchronous command."""

    async def go() -> T:
        async with application() as app:
            return await work(app)

    return run(go())


def call_each(work: Callable[[App], Awaitable[T]]) -> list[tuple[str, T]]:
    """Run one service call in every workspace (`--all-workspaces`): (workspace, result) pairs by name."""
    from email_infrastructure.services.workspaces import each

    if workspace_named():
        from email_infrastructure.core.errors import UserError

        raise UserError("--all-workspaces reads every workspace: name none (--workspace, an inventory's workspace:)")
    return call(lambda app: each(app, work))


def note_state(app: App) -> None:
    """Say where state lives (stderr), and warn about a ./data left from an older default."""
    err_console.print(f"[dim]state: {app.state_location}[/]", soft_wrap=True, highlight=False)
    legacy = Path("data") / "email-infra.db"
    if legacy.exists() and legacy.resolve() != (app.settings.data_dir / "email-infra.db").resolve():
        err_console.print(
            f"[yellow]warning:[/] {legacy} exists but state now lives at {app.state_location}; "
            f"set EMAIL_INFRA_DATA_DIR={legacy.parent.resolve()} to keep using it",
            soft_wrap=True,
        )


def print_key_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[str | Text]],
    *,
    keys: Collection[int],
    title: str | None = None,
    out: Console | None = None,
) -> None:
    """A table whose key columns (file names, IPs, owners) are never cut, at any width.

    Key columns do not wrap and are as wide as their longest value; the others fold. When the
    table cannot fit so at the terminal's width, each row becomes two lines instead: its keys,
    whole, then the other cells as `column: value` (cells that are str are markup).
    """
    from rich.measure import Measurement
    from rich.table import Table
    from rich.text import Text

    out = out or console
    cells = [[c if isinstance(c, Text) else Text.from_markup(c) for c in row] for row in rows]
    table = Table(*columns, title=title)
    for i, column in enumerate(table.columns):
        if i in keys:
            column.no_wrap = True
            column.min_width = max([len(columns[i]), *(row[i].cell_len for row in cells)])
        else:
            column.overflow = "fold"
    for row in cells:
        table.add_row(*row)
    unbounded = out.options.update(max_width=10**6)
    if Measurement.get(out, unbounded, table).minimum <= out.width:
        out.print(table)
        return
    if title:
        out.print(Text(title, style="bold"))
    for row in cells:
        # soft_wrap: a key longer than the line is left for the terminal to wrap, never cut or
        # broken by us (copied or searched, it is whole)
        out.print(Text("  ").join(row[i] for i in sorted(keys)), soft_wrap=True)
        rest = [Text.assemble((f"{columns[i]}: ", "dim"), row[i]) for i in range(len(row)) if i not in keys and row[i]]
        for line in Text("  ").join(rest).wrap(out, max(out.width - 4, 20)):
            out.print(Text("    ") + line, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write JSON to stdout (no Rich markup, stable key order as given)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def write_chunks(chunks: Iterable[str]) -> None:
    """Write text to stdout piece by piece (streamed JSON), never holding it whole."""
    write = sys.stdout.write
    for chunk in chunks:
        write(chunk)


def debug_enabled() -> bool:
    """True with --debug or EMAIL_INFRA_DEBUG=1."""
    return "--debug" in sys.argv or os.environ.get("EMAIL_INFRA_DEBUG") == "1"

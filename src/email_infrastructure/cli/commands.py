"""The `email-infra` command tree: command groups and global options (built when a command runs).

`build(argv)` registers only the command the arguments name — each command module imports what it
needs, and a one-domain audit need not import the other fifteen groups — and every command when
they name none or one it does not know (`--help`, completion, a typo's suggestion).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from email_infrastructure import __version__
from email_infrastructure.cli.common import choose_workspace, console, err_console
from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.logging import setup_logging

_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: name → (module under cli/, its attribute, a command group?, options), in the order `--help` lists them
COMMANDS: dict[str, tuple[str, str, bool, dict[str, Any]]] = {
    "init": ("init", "init", False, {}),
    "validate": ("validate", "validate", False, {}),
    "records": ("dns", "records", False, {}),
    "plan": ("dns", "plan", False, {}),
    "apply": ("dns", "apply", False, {}),
    "audit": ("audit", "audit_command", False, {}),
    "blocklist": ("audit", "blacklist_command", False, {}),
    "blacklist": ("audit", "blacklist_command", False, {"hidden": True, "help": "Alias of `blocklist`."}),
    "monitor": ("monitor", "monitor", False, {}),
    "metrics": ("monitor", "metrics", False, {}),
    "status": ("status", "status", False, {}),
    "export": ("export", "export", False, {}),
    "worker": ("worker", "worker", False, {}),
    "scheduler": ("worker", "scheduler", False, {}),
    "domain": ("domain", "app", True, {}),
    "dkim": ("dkim", "app", True, {}),
    "db": ("db", "app", True, {}),
    "vault": ("vault", "app", True, {}),
    "mailbox": ("mailbox", "app", True, {}),
    "server": ("server", "app", True, {}),
    "dmarc": ("dmarc", "app", True, {}),
    "apikey": ("apikey", "app", True, {}),
    "alerts": ("alerts", "app", True, {}),
    "sequencer": ("sequencer", "app", True, {}),
    "workspace": ("workspace", "app", True, {}),
    "serve": ("serve", "serve", False, {}),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"email-infra {__version__}")
        raise typer.Exit()


def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs (anywhere on the line).")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR=1 does the same).")] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            metavar="NAME",
            help="The workspace (client) to act in, anywhere on the line; else EMAIL_INFRA_WORKSPACE, else an "
            "inventory's `workspace:`, else `default`.",
        ),
    ] = None,
) -> None:
    """Control plane for cold-email infrastructure: DNS, mail servers, VPS, monitoring.

    -f/--file names an inventory; plan, apply, records, status, monitor and audit use the stored state without it.

    Exit codes: 0 ok, 1 errors found or a step failed, 2 usage or input error (a refusal, the lock).

    3: nothing at error but something could not be determined (audit, blocklist, monitor); 70: internal error.
    """
    if no_color:
        console.no_color = err_console.no_color = True
    choose_workspace(workspace)
    level = "DEBUG" if debug else os.environ.get("EMAIL_INFRA_LOG_LEVEL", "WARNING").strip().upper()
    if level not in _LEVELS:
        raise ConfigError(f"EMAIL_INFRA_LOG_LEVEL {level.lower()!r} is not a log level (one of {', '.join(_LEVELS)})")
    setup_logging(level, json_output=os.environ.get("EMAIL_INFRA_ENV") == "production")


def named_command(argv: Sequence[str]) -> str | None:
    """The command the arguments name, if any (root options take no value but `--workspace NAME`)."""
    args = iter(argv)
    for arg in args:
        if arg in ("--workspace", "-w"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def build(argv: Sequence[str] | None = None) -> typer.Typer:
    """The root command with the command `argv` names, or with every command."""
    tree = typer.Typer(
        name="email-infra",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    tree.callback()(_root)
    wanted = named_command(argv or [])
    for name in [wanted] if wanted in COMMANDS else list(COMMANDS):
        module, attribute, group, options = COMMANDS[name]
        target = getattr(importlib.import_module(f"email_infrastructure.cli.{module}"), attribute)
        if group:
            tree.add_typer(target, name=name, **options)
        else:
            tree.command(name, **options)(target)
    return tree


def __getattr__(name: str) -> Any:
    """`app`: the whole command tree (tests and tools that inspect it)."""
    if name == "app":
        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

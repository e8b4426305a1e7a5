"""The `email-infra` command tree: command groups and global options (built when a command runs)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from email_infrastructure import __version__
from email_infrastructure.cli import (
    apikey,
    audit,
    db,
    dkim,
    dmarc,
    dns,
    domain,
    export,
    init,
    monitor,
    serve,
    server,
    status,
    validate,
    vault,
    worker,
)
from email_infrastructure.cli.common import console, err_console
from email_infrastructure.cli.mailbox import app as mailbox_app
from email_infrastructure.core.errors import ConfigError
from email_infrastructure.core.logging import setup_logging

app = typer.Typer(
    name="email-infra",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"email-infra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs (anywhere on the line).")
    ] = False,
    no_color: Annotated[bool, typer.Option("--no-color", help="No colours (NO_COLOR=1 does the same).")] = False,
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Control plane for cold-email infrastructure: DNS, mail servers, VPS, monitoring.

    -f/--file names an inventory; plan, apply, records, status, monitor and audit use the stored state without it.

    Exit codes: 0 ok, 1 errors found or a step failed, 2 usage or input error (a refusal, the lock).

    3: nothing at error but something could not be determined (audit, blocklist, monitor); 70: internal error.
    """
    if no_color:
        console.no_color = err_console.no_color = True
    level = "DEBUG" if debug else os.environ.get("EMAIL_INFRA_LOG_LEVEL", "WARNING").strip().upper()
    if level not in _LEVELS:
        raise ConfigError(f"EMAIL_INFRA_LOG_LEVEL {level.lower()!r} is not a log level (one of {', '.join(_LEVELS)})")
    setup_logging(level, json_output=os.environ.get("EMAIL_INFRA_ENV") == "production")


app.command("init")(init.init)
app.command("validate")(validate.validate)
app.command("records")(dns.records)
app.command("plan")(dns.plan)
app.command("apply")(dns.apply)
app.command("audit")(audit.audit_command)
app.command("blocklist")(audit.blacklist_command)
app.command("blacklist", hidden=True, help="Alias of `blocklist`.")(audit.blacklist_command)
app.command("monitor")(monitor.monitor)
app.command("metrics")(monitor.metrics)
app.command("status")(status.status)
app.command("export")(export.export)
app.command("worker")(worker.worker)
app.command("scheduler")(worker.scheduler)
app.add_typer(domain.app, name="domain")
app.add_typer(dkim.app, name="dkim")
app.add_typer(db.app, name="db")
app.add_typer(vault.app, name="vault")
app.add_typer(mailbox_app, name="mailbox")
app.add_typer(server.app, name="server")
app.add_typer(dmarc.app, name="dmarc")
app.add_typer(apikey.app, name="apikey")
app.command("serve")(serve.serve)

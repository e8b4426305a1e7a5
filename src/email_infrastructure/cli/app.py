"""The `email-infra` entry point: command groups, global options, exit codes."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated

import typer

from email_infrastructure import __version__
from email_infrastructure.cli import audit, db, dkim, dns, domain, init, monitor, status, validate, vault
from email_infrastructure.cli.common import debug_enabled, err_console
from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.logging import redact_text, setup_logging

app = typer.Typer(
    name="email-infra",
    help="Control plane for cold-email infrastructure: DNS, mail servers, VPS, monitoring.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"email-infra {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    level = "DEBUG" if debug else os.environ.get("EMAIL_INFRA_LOG_LEVEL", "WARNING")
    production = os.environ.get("EMAIL_INFRA_ENV") == "production"
    try:
        setup_logging(level, json_output=production)
    except ValueError:
        setup_logging("WARNING", json_output=production)


app.command("init")(init.init)
app.command("validate")(validate.validate)
app.command("records")(dns.records)
app.command("plan")(dns.plan)
app.command("apply")(dns.apply)
app.command("audit")(audit.audit_command)
app.command("blacklist")(audit.blacklist_command)
app.command("monitor")(monitor.monitor)
app.command("metrics")(monitor.metrics)
app.command("status")(status.status)
app.add_typer(domain.app, name="domain")
app.add_typer(dkim.app, name="dkim")
app.add_typer(db.app, name="db")
app.add_typer(vault.app, name="vault")


def main() -> None:
    """Run the CLI: exit 0 on success, 2 on user errors, 1 on internal errors."""
    try:
        result = app(standalone_mode=False)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument (exit 2)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc.format_message()}", markup=False)
        sys.exit(exc.exit_code)
    except EmailInfraError as exc:
        _report(exc, f"error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        _report(exc, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)


def _report(exc: BaseException, message: str) -> None:
    if debug_enabled():
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(redact_text(text))
    logging.getLogger(__name__).debug("command failed", exc_info=exc)
    err_console.print(redact_text(message), markup=False, soft_wrap=True)

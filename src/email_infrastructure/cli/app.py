"""The `email-infra` entry point: command groups, global options, exit codes."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Annotated, NoReturn

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
from email_infrastructure.cli.common import console, debug_enabled, err_console
from email_infrastructure.cli.mailbox import app as mailbox_app
from email_infrastructure.core.errors import ConfigError, ConflictError, EmailInfraError
from email_infrastructure.core.logging import redact_text, setup_logging

app = typer.Typer(
    name="email-infra",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
#: exit code of an internal error (sysexits' EX_SOFTWARE): 1 means "errors found" for audits
INTERNAL_ERROR = 70
#: options that belong to the root command but read well after a command name too
_GLOBAL_FLAGS = ("--debug", "--no-color")
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


def _hoist(argv: list[str]) -> list[str]:
    """Move root-only flags given after a command name to the front (`plan --debug`)."""
    head, rest = argv[:1], argv[1:]
    end = rest.index("--") if "--" in rest else len(rest)
    flags = [a for a in rest[:end] if a in _GLOBAL_FLAGS]
    return [*head, *dict.fromkeys(flags), *(a for a in rest[:end] if a not in _GLOBAL_FLAGS), *rest[end:]]


def _changes_exit_code(argv: list[str]) -> bool:
    """`plan --detailed-exitcode`: exit 2 means "changes pending" there, so no error may exit 2."""
    args = argv[1 : argv.index("--") if "--" in argv else len(argv)]
    command = next((a for a in args if not a.startswith("-")), None)  # root options take no value
    return command == "plan" and "--detailed-exitcode" in args


def main(prog_name: str | None = None) -> None:
    """Run the CLI on `sys.argv`: exit 0 on success, 2 on user errors, 70 on internal errors.

    Under `plan --detailed-exitcode` a user error (a refusal, a bad file or option) exits 1 instead.
    """
    sys.argv = _hoist(sys.argv)
    user_error = 1 if _changes_exit_code(sys.argv) else 2

    def error_exit(code: int) -> NoReturn:
        sys.exit(user_error if code == 2 else code)

    try:
        result = app(args=sys.argv[1:], prog_name=prog_name, standalone_mode=False)
    except typer.Abort:
        err_console.print("aborted: nothing was applied")
        error_exit(2)
    except typer.TyperException as exc:  # usage errors: bad option, missing argument (exit 2)
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            err_console.print(f"error: {exc.format_message()}", markup=False)
        error_exit(exc.exit_code)
    except EmailInfraError as exc:
        hint = exc.cli_hint if isinstance(exc, ConflictError) else ""
        _report(exc, f"error: {exc}" + (f"; {hint}" if hint else ""))
        error_exit(exc.exit_code)
    except OSError as exc:  # a data dir that cannot be created or written, a file that cannot be read
        where = f"{exc.filename}: " if exc.filename else ""
        _report(exc, f"error: {where}{exc.strerror or exc}")
        error_exit(2)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        _report(exc, f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)")
        sys.exit(INTERNAL_ERROR)
    sys.exit(result if isinstance(result, int) else 0)


def _report(exc: BaseException, message: str) -> None:
    if debug_enabled():
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(redact_text(text))
    logging.getLogger(__name__).debug("command failed", exc_info=exc)
    err_console.print(redact_text(message), markup=False, soft_wrap=True)

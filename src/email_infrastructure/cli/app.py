"""The `email-infra` entry point: exit codes, global flags anywhere; `--version` before anything is imported."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

#: exit code of an internal error (sysexits' EX_SOFTWARE): 1 means "errors found" for audits
INTERNAL_ERROR = 70
#: options that belong to the root command but read well after a command name too
_GLOBAL_FLAGS = ("--debug", "--no-color")
#: root options with a value, equally welcome after a command name (`status --workspace acme`)
_GLOBAL_VALUES = ("--workspace", "-w")


def __getattr__(name: str) -> Any:
    """`app`, the Typer command tree, built on first use (cli/commands.py)."""
    if name == "app":
        from email_infrastructure.cli.commands import build

        return build()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _hoist(argv: list[str]) -> list[str]:
    """Move root-only flags given after a command name to the front (`plan --debug`)."""
    head, rest = argv[:1], argv[1:]
    end = rest.index("--") if "--" in rest else len(rest)
    front: list[str] = []
    kept: list[str] = []
    args = iter(rest[:end])
    for arg in args:
        if arg in _GLOBAL_FLAGS:
            front += [] if arg in front else [arg]
        elif arg in _GLOBAL_VALUES:
            front += [arg, next(args, "")]
        elif arg.split("=", 1)[0] in _GLOBAL_VALUES:
            front.append(arg)
        else:
            kept.append(arg)
    return [*head, *front, *kept, *rest[end:]]


def _changes_exit_code(argv: list[str]) -> bool:
    """`plan --detailed-exitcode`: exit 2 means "changes pending" there, so no error may exit 2."""
    from email_infrastructure.cli.commands import named_command

    args = argv[1 : argv.index("--") if "--" in argv else len(argv)]
    return named_command(args) == "plan" and "--detailed-exitcode" in args


def main(prog_name: str | None = None) -> None:
    """Run the CLI on `sys.argv`: exit 0 on success, 2 on user errors, 70 on internal errors.

    Under `plan --detailed-exitcode` a user error (a refusal, a bad file or option) exits 1 instead.
    """
    if sys.argv[1:] in (["--version"], ["-V"]):  # Typer and the command tree are most of the start
        from email_infrastructure import __version__

        sys.stdout.write(f"email-infra {__version__}\n")
        sys.exit(0)
    import typer

    from email_infrastructure.cli.commands import build
    from email_infrastructure.cli.common import err_console
    from email_infrastructure.core.errors import ConflictError, EmailInfraError

    sys.argv = _hoist(sys.argv)
    app = build(sys.argv[1:])
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
    import logging
    import traceback

    from email_infrastructure.cli.common import debug_enabled, err_console
    from email_infrastructure.core.logging import redact_text

    if debug_enabled():
        text = "".join(traceback.format_exception(exc))
        sys.stderr.write(redact_text(text))
    logging.getLogger(__name__).debug("command failed", exc_info=exc)
    err_console.print(redact_text(message), markup=False, soft_wrap=True)

"""`email-infra dkim export|import`: move DKIM keys between databases, encrypted on both sides."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import JsonOption, call, console, print_json
from email_infrastructure.core.errors import ConfigError

if TYPE_CHECKING:
    from email_infrastructure.services.dkim import DkimTransfer

app = typer.Typer(help="DKIM keys of the vault: export to a file, import into another database.", no_args_is_help=True)
DEFAULT_PASSPHRASE_ENV = "EMAIL_INFRA_EXPORT_PASSPHRASE"  # noqa: S105  # a variable name, not a secret
PassphraseOption = Annotated[
    str,
    typer.Option(help="Variable holding the passphrase that encrypts the file (at least 12 characters)."),
]


def _passphrase(env: str) -> str:
    value = os.environ.get(env, "")
    if not value:
        raise ConfigError(f"environment variable {env} is not set (it holds the export passphrase)")
    return value


def _report(result: DkimTransfer, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(result.to_json())
        return
    console.print(f"{verb} {len(result.domains)} key(s)")
    for domain, why in sorted(result.skipped.items()):
        console.print(f"  skipped {domain}: {why}")


@app.command("export")
def export(
    file: Annotated[Path, typer.Argument(help="The file to write (mode 0600; never overwritten).")],
    domain: Annotated[list[str] | None, typer.Option("--domain", help="Only this domain (repeatable).")] = None,
    passphrase_env: PassphraseOption = DEFAULT_PASSPHRASE_ENV,
    as_json: JsonOption = False,
) -> None:
    """Write the desired domains' DKIM private keys, encrypted with a passphrase."""
    from email_infrastructure.services.dkim import export_keys

    secret = _passphrase(passphrase_env)
    _report(call(lambda app: export_keys(app, file, secret, list(domain or []))), "exported", as_json)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A file written by `dkim export`.")],
    passphrase_env: PassphraseOption = DEFAULT_PASSPHRASE_ENV,
    force: Annotated[bool, typer.Option("--force", help="Replace a different key already in the vault.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Store the keys of an export file in this database's vault (so the plan keeps them)."""
    from email_infrastructure.services.dkim import import_keys

    secret = _passphrase(passphrase_env)
    _report(call(lambda app: import_keys(app, file, secret, force=force)), "imported", as_json)

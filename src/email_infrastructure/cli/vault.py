"""`email-infra vault`: keys of the secrets vault."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.markup import escape

from email_infrastructure.cli.common import JsonOption, call, console, err_console, print_json

app = typer.Typer(help="The secrets vault (encrypted mailbox passwords and DKIM keys).", no_args_is_help=True)


@app.command("generate-key")
def generate() -> None:
    """Print a new random vault key (for EMAIL_INFRA_SECRET_KEY)."""
    from email_infrastructure.core.vault import generate_key

    console.print(generate_key())


@app.command("rotate-key")
def rotate(
    new_key_env: Annotated[
        str | None,
        typer.Option(help="Variable with the new key (needed when the key is EMAIL_INFRA_SECRET_KEY)."),
    ] = None,
) -> None:
    """Re-encrypt every stored secret under a new key; finishes an interrupted rotation first."""
    from email_infrastructure.core.errors import ConfigError
    from email_infrastructure.services.vault import rotate_key

    new_key = None
    if new_key_env:
        new_key = os.environ.get(new_key_env, "")
        if not new_key:
            raise ConfigError(f"environment variable {new_key_env} is not set")
    result = call(lambda a: rotate_key(a, new_key))
    if result.finished_interrupted:
        console.print("finished an interrupted rotation first")
    console.print(f"re-encrypted {result.reencrypted} secret(s); key: {result.key_location}")


@app.command("check")
def check(as_json: JsonOption = False) -> None:
    """Try every stored secret with the vault's keys and name those that do not open (exit 1)."""
    from email_infrastructure.services.vault import check_secrets

    result = call(check_secrets)
    if as_json:
        print_json(result.to_json())
    elif result.undecryptable:
        for name in result.undecryptable:
            console.print(escape(name), soft_wrap=True)
        err_console.print(
            f"{len(result.undecryptable)} of {result.total} stored secret(s) cannot be decrypted with the vault's "
            "keys; `email-infra vault forget NAME` deletes one (whatever it protected must be made again)"
        )
    else:
        console.print(f"all {result.total} stored secret(s) open with the vault's key")
    if result.undecryptable:
        raise typer.Exit(1)


@app.command("forget")
def forget(name: Annotated[str, typer.Argument(help="The secret, as `vault check` names it (OWNER/NAME).")]) -> None:
    """Delete one stored secret (one that cannot be decrypted); logged as an event, the value never shown."""
    from email_infrastructure.services.vault import forget_secret

    call(lambda a: forget_secret(a, name))
    console.print(f"forgot {escape(name)}", soft_wrap=True)

"""`email-infra vault`: keys of the secrets vault."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from email_infrastructure.cli.common import call, console

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

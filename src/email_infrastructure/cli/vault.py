"""`email-infra vault`: keys of the secrets vault."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from email_infrastructure.cli.common import console, run, settings

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
    """Re-encrypt every stored secret under a new key."""
    from email_infrastructure.core.errors import ConfigError
    from email_infrastructure.core.vault import (
        PENDING_KEY_FILE_NAME,
        Vault,
        generate_key,
        key_file_path,
        write_key_file,
    )
    from email_infrastructure.storage.db import open_database
    from email_infrastructure.storage.repositories import SecretStore

    cfg = settings()
    old = Vault.from_settings(cfg)
    if new_key_env:
        new_key = os.environ.get(new_key_env, "")
        if not new_key:
            raise ConfigError(f"environment variable {new_key_env} is not set")
    elif cfg.secret_key is not None:
        raise ConfigError(
            "the key comes from EMAIL_INFRA_SECRET_KEY: put the new key in another variable "
            "and pass --new-key-env NAME, then set EMAIL_INFRA_SECRET_KEY to it"
        )
    else:
        new_key = generate_key()
    pending = key_file_path(cfg).with_name(PENDING_KEY_FILE_NAME)
    if cfg.secret_key is None and not new_key_env:
        # Written before re-encrypting, so a crash in between leaves a key that still decrypts.
        write_key_file(pending, new_key, replace=True)
    both = Vault([new_key, *old.keys])

    async def go() -> int:
        db = await open_database(cfg)
        try:
            return await SecretStore(db.sessions, old).reencrypt_all(both)
        finally:
            await db.close()

    count = run(go())
    if cfg.secret_key is None and not new_key_env:
        os.replace(pending, key_file_path(cfg))
        console.print(f"re-encrypted {count} secret(s); new key written to {key_file_path(cfg)}")
    else:
        console.print(f"re-encrypted {count} secret(s); set EMAIL_INFRA_SECRET_KEY to the value of {new_key_env}")

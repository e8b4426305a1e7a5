"""Vault key rotation that survives a kill at any point, any number of times.

With the key in the data dir, a rotation is: write the new key to `secret.key.next` (never over an
existing one), re-encrypt every secret under it in one transaction, prove that every secret opens
with the new key alone, then replace `secret.key`. Until that last step both files are read, so
each secret opens whichever step was interrupted; the next `rotate-key` finishes the interrupted
rotation before it starts its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from email_infrastructure.core.errors import ConfigError, VaultError
from email_infrastructure.core.vault import (
    PENDING_KEY_FILE_NAME,
    Vault,
    generate_key,
    key_file_path,
    read_key_file,
    write_key_file,
)
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import SecretRecord


@dataclass
class RotationResult:
    """What a rotation did."""

    reencrypted: int
    key_location: str
    finished_interrupted: bool = False


async def _reencrypt(app: App, vault: Vault, new_key: str) -> int:
    """Re-encrypt every secret under `new_key`, then check that the new key alone opens them."""
    from sqlalchemy import select

    only_new = Vault([new_key])
    async with app.uow() as uow:
        count = await uow.secrets().reencrypt_all(vault)
        for row in (await uow.session.scalars(select(SecretRecord))).all():
            only_new.decrypt(row.ciphertext)
        uow.emit("vault.key.rotated", {"secrets": count}, source="vault")
        await uow.commit()
    return count


async def rotate_key(app: App, new_key: str | None = None) -> RotationResult:
    """Re-encrypt every stored secret under a new key (generated unless given)."""
    settings = app.settings
    app.vault()  # refuses an invalid key before anything is written; creates a first key file
    if settings.secret_key is not None:
        if not new_key:
            raise ConfigError(
                "the key comes from EMAIL_INFRA_SECRET_KEY: put the new key in another variable "
                "and pass --new-key-env NAME, then set EMAIL_INFRA_SECRET_KEY to it"
            )
        old = app.vault()
        count = await _reencrypt(app, Vault([new_key, *old.keys]), new_key)
        return RotationResult(count, "EMAIL_INFRA_SECRET_KEY (set it to the new key)")
    await app.database()
    path = key_file_path(settings)
    pending = path.with_name(PENDING_KEY_FILE_NAME)
    finished = False
    if pending.exists():
        # An earlier rotation was interrupted: finish it first, with the key it had written.
        interrupted = read_key_file(pending)
        await _reencrypt(app, Vault([interrupted, read_key_file(path)]), interrupted)
        os.replace(pending, path)
        finished = True
    current = read_key_file(path)
    fresh = new_key or generate_key()
    if fresh == current:
        raise VaultError("the new key is the current key")
    write_key_file(pending, fresh)  # refuses to overwrite: a pending key may be all that opens the secrets
    count = await _reencrypt(app, Vault([fresh, current]), fresh)
    os.replace(pending, path)
    app.reload_vault()
    return RotationResult(count, str(path), finished)

"""Vault key rotation that survives a kill at any point, any number of times.

With the key in the data dir, a rotation is: write the new key to `secret.key.next` (never over an
existing one), re-encrypt every secret under it in one transaction, prove that every secret opens
with the new key alone, then replace `secret.key`. Until that last step both files are read, so
each secret opens whichever step was interrupted; the next `rotate-key` finishes the interrupted
rotation before it starts its own.

Running processes (servers, workers) are safe: the re-encrypting transaction also records the new
key's id as the active one (`vault_state`), under a row lock every secret writer shares. A process
that finds a key id it does not hold reads its keys anew (the key file, or the pending file until
the rotation replaces it) and writes under the active key; one that cannot get it (a key from
EMAIL_INFRA_SECRET_KEY) refuses to write. So nothing is written under a retired key. A secret no
key opens is named (`check_secrets`) and can be deleted (`forget_secret`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypedDict

from email_infrastructure.core.errors import ConfigError, NotFoundError, UserError, VaultError
from email_infrastructure.core.events import Topic
from email_infrastructure.core.vault import (
    PENDING_KEY_FILE_NAME,
    Vault,
    generate_key,
    key_file_path,
    read_key_file,
    write_key_file,
)
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.scope import EVERY
from email_infrastructure.storage.models import SecretRecord
from email_infrastructure.storage.repositories import secret_label


class KeyRotatedPayload(TypedDict):
    """A rotation: how many secrets were re-encrypted, and the new key's id (never the key)."""

    secrets: int
    key_id: str


class SecretForgottenPayload(TypedDict):
    """A stored secret deleted by hand (its name `OWNER/NAME` only)."""

    name: str


KEY_ROTATED: Topic[KeyRotatedPayload] = Topic("vault.key.rotated", KeyRotatedPayload)
SECRET_FORGOTTEN: Topic[SecretForgottenPayload] = Topic("vault.secret.forgotten", SecretForgottenPayload)


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
    async with app.uow(EVERY) as uow:  # the vault is the install's: every workspace's secrets
        count = await uow.secrets().reencrypt_all(vault)
        for row in (await uow.session.scalars(select(SecretRecord))).all():
            only_new.decrypt(row.ciphertext)
        uow.emit(KEY_ROTATED, KeyRotatedPayload(secrets=count, key_id=only_new.primary_id), source="vault")
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


@dataclass
class VaultCheck:
    """Stored secrets, and the names of those no key of the vault opens."""

    total: int
    undecryptable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        """JSON form (names only, never a value)."""
        return {"total": self.total, "undecryptable": self.undecryptable}


async def check_secrets(app: App) -> VaultCheck:
    """Try every stored secret with the vault's keys; name those that do not open (values stay put)."""
    await require_state(app)
    async with app.uow(EVERY) as uow:
        total, bad = await uow.secrets(create_key=False).undecryptable()
    return VaultCheck(total, bad)


@dataclass
class VaultStatus:
    """The vault as the dashboard shows it: which key (its id, never the key), since when, and the secrets."""

    #: `core.vault.key_id` of the key this process encrypts with: 16 hex digits of a SHA-256 of it
    key_id: str
    #: the id of the key the database says is active (None before the first secret was written)
    active_key_id: str | None
    rotated_at: datetime | None
    #: where the key comes from: EMAIL_INFRA_SECRET_KEY or the key file's path
    key_source: str
    #: an interrupted rotation left its new key file: the next `vault rotate-key` finishes it
    rotation_pending: bool
    check: VaultCheck

    @property
    def stale(self) -> bool:
        """True when another process rotated the key and this one still holds the old one."""
        return self.active_key_id is not None and self.active_key_id != self.key_id


async def vault_status(app: App) -> VaultStatus:
    """The vault's key id, last rotation, and how many stored secrets there are and open (install-wide)."""
    from sqlalchemy import select

    from email_infrastructure.storage.models import VaultState

    check = await check_secrets(app)
    vault = app.vault(create=False)
    async with app.uow(EVERY) as uow:
        state = (await uow.session.scalars(select(VaultState))).first()
    rotated = state.rotated_at if state is not None else None
    if rotated is not None and rotated.tzinfo is None:  # SQLite hands it back without its zone (stored in UTC)
        rotated = rotated.replace(tzinfo=UTC)
    settings = app.settings
    path = key_file_path(settings)
    return VaultStatus(
        key_id=vault.primary_id,
        active_key_id=state.key_id if state is not None else None,
        rotated_at=rotated,
        key_source="EMAIL_INFRA_SECRET_KEY" if settings.secret_key is not None else str(path),
        rotation_pending=settings.secret_key is None and path.with_name(PENDING_KEY_FILE_NAME).exists(),
        check=check,
    )


def parse_secret_name(label: str) -> tuple[str, str]:
    """`OWNER/NAME` (as `vault check` prints it) → (owner, name)."""
    owner, _, name = label.rpartition("/")
    if not owner or not name:
        raise UserError(f"{label!r} is not a secret's name: give it as `vault check` prints it (OWNER/NAME)")
    return owner, name


async def forget_secret(app: App, label: str, *, source: str = "cli") -> None:
    """Delete one stored secret by name, with an event; whatever it protected must be made again."""
    owner, name = parse_secret_name(label)
    await require_state(app)
    async with app.uow() as uow:
        if not await uow.secrets(create_key=False).delete(owner, name):
            raise NotFoundError(f"no stored secret named {secret_label(owner, name)} (`email-infra vault check`)")
        uow.emit(SECRET_FORGOTTEN, SecretForgottenPayload(name=secret_label(owner, name)), source=source)
        await uow.commit()

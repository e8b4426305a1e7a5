"""The secrets vault: Fernet (AES-128-CBC + HMAC-SHA256) encryption of generated secrets.

Every key has an id (`key_id`: a truncated SHA-256 of the key, which reveals nothing of it); a
stored secret records the id of the key it was written under, and the database records the id of
the active key, so a process can tell that another one rotated the key under it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from email_infrastructure.core.errors import ConfigError, VaultError
from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.settings import Settings

_log = logging.getLogger(__name__)
KEY_FILE_NAME = "secret.key"
# A rotation in progress: the new key, kept until every secret is re-encrypted under it.
PENDING_KEY_FILE_NAME = "secret.key.next"


def generate_key() -> str:
    """A fresh random vault key (44 url-safe base64 characters)."""
    return Fernet.generate_key().decode("ascii")


def key_id(key: str) -> str:
    """The id of a vault key: 16 hex characters of a SHA-256 of it (one-way, safe to store and show)."""
    return hashlib.sha256(b"email-infra vault key id\0" + key.strip().encode("ascii")).hexdigest()[:16]


class StaleKeyError(VaultError):
    """This process does not hold the vault key that is active in the database (rotated under it)."""


def _parse_key(text: str, origin: str) -> Fernet:
    try:
        return Fernet(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError(
            f"{origin} is not a valid vault key: expected 44 url-safe base64 characters "
            "(create one with `email-infra vault generate-key`)"
        ) from None


def key_file_path(settings: Settings) -> Path:
    """Where the vault key lives when EMAIL_INFRA_SECRET_KEY is not set."""
    return settings.data_dir / KEY_FILE_NAME


def read_key_file(path: Path) -> str:
    """Read a key file, refusing one that others can read."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} must be readable by its owner only (chmod 600 {path})")
    return path.read_text(encoding="ascii").strip()


def write_key_file(path: Path, key: str, *, replace: bool = False) -> None:
    """Write a key file with mode 0600, atomically; never widen permissions on the way."""
    from email_infrastructure.core.database import PRIVATE_DIR_MODE, make_dirs  # only here: spares SQLAlchemy

    make_dirs(path.parent, PRIVATE_DIR_MODE)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    if not replace and path.exists():
        tmp.unlink()
        raise VaultError(f"{path} already exists")
    os.replace(tmp, path)


class Vault:
    """Encrypts and decrypts secrets; the first key encrypts, every key may decrypt."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ConfigError("the vault needs at least one key")
        self.keys = [k.strip() for k in keys]
        self._fernets = [_parse_key(k, "vault key") for k in self.keys]
        #: the ids of the keys, in the same order (the first is the primary)
        self.ids = [key_id(k) for k in self.keys]
        self._multi = MultiFernet(self._fernets)
        for key in keys:
            register_secret(key.strip())

    @classmethod
    def from_settings(cls, settings: Settings, *, create: bool = True) -> Vault:
        """Key from EMAIL_INFRA_SECRET_KEY, else the key file (created 0600 outside production)."""
        if settings.secret_key is not None:
            key = settings.secret_key.get_secret_value()
            _parse_key(key, "EMAIL_INFRA_SECRET_KEY")
            return cls([key])
        path = key_file_path(settings)
        pending = path.with_name(PENDING_KEY_FILE_NAME)
        if path.exists():
            extra = [read_key_file(pending)] if pending.exists() else []
            return cls([read_key_file(path), *extra])
        if settings.env == "production" or not create:
            raise ConfigError("no vault key: set EMAIL_INFRA_SECRET_KEY")
        write_key_file(path, generate_key())
        _log.info("created vault key file %s (mode 0600)", path)
        return cls([read_key_file(path)])

    @property
    def primary_id(self) -> str:
        """The id of the key that encrypts by default."""
        return self.ids[0]

    def encrypt(self, plaintext: str, key: str | None = None) -> str:
        """Encrypt a secret with the key of id `key` (default: the primary key)."""
        if key is None:
            return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")
        if key not in self.ids:
            raise StaleKeyError(
                f"the active vault key ({key}) is not one this process holds ({', '.join(self.ids)}): the key "
                "was rotated by another process; restart this one with the new key"
            )
        return self._fernets[self.ids.index(key)].encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Decrypt with any known key; the plaintext is registered for log redaction."""
        try:
            value = self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise VaultError("a stored secret cannot be decrypted with the current key") from None
        register_secret(value)
        return value

    def rotate(self, token: str) -> str:
        """Re-encrypt a token under the primary key."""
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise VaultError("a stored secret cannot be decrypted with the current key") from None

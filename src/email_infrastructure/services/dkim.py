"""Move DKIM keys between databases: an export file encrypted with a passphrase, imported into a vault.

The file is JSON; each private key in it is a Fernet token under a key derived from the
passphrase with scrypt (a fresh salt per file), so the keys are encrypted at rest on both sides.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from email_infrastructure.core.errors import UserError
from email_infrastructure.core.rsa_keys import public_key_b64
from email_infrastructure.core.secret_names import dkim_key
from email_infrastructure.dns.events import DKIM_KEYS_IMPORTED, DkimKeysImportedPayload
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.desired import desired_inventory

EXPORT_FORMAT = "email-infra-dkim-export"
EXPORT_VERSION = 1
#: scrypt cost: n=2**15, r=8, p=1 takes ~0.1 s and 32 MiB, per file (not per key)
_SCRYPT_N = 2**15
MIN_PASSPHRASE = 12


@dataclass
class DkimTransfer:
    """Keys written or read, by domain, and those skipped with why."""

    domains: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"domains": self.domains, "skipped": self.skipped}


def _fernet(passphrase: str, salt: bytes) -> Fernet:
    if len(passphrase) < MIN_PASSPHRASE:
        raise UserError(f"the passphrase must have at least {MIN_PASSPHRASE} characters")
    kdf = Scrypt(salt=salt, length=32, n=_SCRYPT_N, r=8, p=1)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(passphrase.encode("utf-8"))))


async def export_keys(app: App, path: Path, passphrase: str, only: list[str] | None = None) -> DkimTransfer:
    """Write the desired domains' DKIM keys (or `only` those) to `path` (mode 0600, never overwritten)."""
    await require_state(app)
    domains = (await desired_inventory(app)).resolved_domains()
    if only:
        missing = sorted(set(only) - {d.name for d in domains})
        if missing:
            raise UserError(f"not in the desired state: {', '.join(missing)}")
        domains = [d for d in domains if d.name in only]
    salt = secrets.token_bytes(16)
    box = _fernet(passphrase, salt)
    result = DkimTransfer()
    entries = []
    async with app.uow() as uow:
        stored = await uow.secrets(create_key=False).get_many([dkim_key(d.name, d.dkim_selector) for d in domains])
    for d in domains:
        private = stored.get(dkim_key(d.name, d.dkim_selector))
        if private is None:
            result.skipped[d.name] = "no key in the vault yet"
            continue
        token = box.encrypt(private.encode("ascii")).decode("ascii")
        entries.append({"domain": d.name, "selector": d.dkim_selector, "private_key": token})
        result.domains.append(d.name)
    body = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "kdf": {"name": "scrypt", "n": _SCRYPT_N, "r": 8, "p": 1, "salt": base64.b64encode(salt).decode()},
        "keys": entries,
    }
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UserError(f"{path} exists; choose another file") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(body, handle, indent=2)
        handle.write("\n")
    return result


def _read(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"{path}: not a DKIM export file ({exc})") from None
    if not isinstance(body, dict) or body.get("format") != EXPORT_FORMAT or body.get("version") != EXPORT_VERSION:
        raise UserError(f"{path}: not a DKIM export file of version {EXPORT_VERSION}")
    kdf = body.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt" or not isinstance(body.get("keys"), list):
        raise UserError(f"{path}: the export file is damaged")
    return body


async def import_keys(app: App, path: Path, passphrase: str, *, force: bool = False) -> DkimTransfer:
    """Store the keys of an export file in this database's vault; a different key is kept unless `force`."""
    body = _read(path)
    try:
        salt = base64.b64decode(body["kdf"]["salt"], validate=True)
    except (ValueError, TypeError, KeyError):
        raise UserError(f"{path}: the export file is damaged") from None
    box = _fernet(passphrase, salt)
    keys: dict[tuple[str, str], str] = {}
    for entry in body["keys"]:
        try:
            private = box.decrypt(str(entry["private_key"]).encode("ascii")).decode("ascii")
            public_key_b64(private)
            keys[dkim_key(str(entry["domain"]), str(entry["selector"]))] = private
        except InvalidToken:
            raise UserError(f"{path}: wrong passphrase, or the file was changed") from None
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}: the export file is damaged") from None
    result = DkimTransfer()
    async with app.uow() as uow:
        store = uow.secrets()
        current = await store.get_many(list(keys))
        for (owner, name), private in sorted(keys.items()):
            domain = owner.removeprefix("domain:")
            if current.get((owner, name)) not in (None, private) and not force:
                result.skipped[domain] = "a different key is in the vault (--force replaces it)"
                continue
            await store.put(owner, name, private)
            result.domains.append(domain)
        uow.emit(DKIM_KEYS_IMPORTED, DkimKeysImportedPayload(domains=result.domains), source="dkim")
        await uow.commit()
    return result

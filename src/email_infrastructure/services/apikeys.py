"""API keys: created once, stored as an HMAC, verified in constant time, scoped read < write < admin.

A key reads `eik_<prefix>_<secret>`: the prefix (8 hex digits) finds the row, the secret carries
256 bits from `secrets`. Only HMAC-SHA256(server key, whole key) is stored; the server key is a
random 256-bit value kept in the vault (encrypted at rest), so a stolen database alone cannot
check guesses. A KDF would add nothing against 256-bit random keys and would cost every request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.exc import IntegrityError

from email_infrastructure.core.errors import EmailInfraError, NotFoundError, UserError
from email_infrastructure.core.logging import register_secret
from email_infrastructure.core.secret_names import API_SERVER_KEY
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.scope import INSTALL_WIDE
from email_infrastructure.storage.api_repositories import ApiKeys, read_only, stale
from email_infrastructure.storage.models import ApiKey, utcnow

Scope = Literal["read", "write", "admin"]
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_LEVEL = {scope: i for i, scope in enumerate(SCOPES)}
KEY_PREFIX = "eik"
#: where the HMAC server key lives in the vault (owner, name)
SERVER_KEY = API_SERVER_KEY
#: `last_used_at` is written at most this often per key, so reads do not write on every request
TOUCH_EVERY = 60.0
#: a verified key is trusted this long without reading the database again: a revocation made by
#: another process takes effect within it (one made through this process's service at once)
VERIFIED_FOR = 5.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_KEY = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43,}})$")


class AuthenticationError(EmailInfraError):
    """No API key, or one that is unknown, malformed or revoked (401)."""


class PermissionDeniedError(EmailInfraError):
    """The API key's scope does not allow this (403)."""


@dataclass(frozen=True)
class KeyInfo:
    """A stored key as shown to people: never the key, never its hash."""

    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    #: the one workspace the key acts in (its id and name); None: an operator key, for every workspace
    workspace_id: int | None = None
    workspace: str | None = None

    @property
    def operator(self) -> bool:
        """True for a key of every workspace."""
        return self.workspace_id is None

    def allows(self, needed: Scope) -> bool:
        """True when this key's scope includes `needed` (admin ⊃ write ⊃ read)."""
        return _LEVEL[self.scope] >= _LEVEL[needed]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "scope": self.scope,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked": self.revoked_at is not None,
            "workspace": self.workspace,
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key: `key` is shown this once and never stored."""

    info: KeyInfo
    key: str


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _info(row: ApiKey, names: dict[int, str]) -> KeyInfo:
    scope: Scope = row.scopes if row.scopes in _LEVEL else "read"
    created = _aware(row.created_at)
    assert created is not None
    workspace = None if row.workspace_id is None else names.get(row.workspace_id, f"#{row.workspace_id}")
    last_used, revoked = _aware(row.last_used_at), _aware(row.revoked_at)
    return KeyInfo(row.name, scope, row.prefix, created, last_used, revoked, row.workspace_id, workspace)


async def _workspace_names(uow: Any) -> dict[int, str]:
    return {w.id: w.name for w in await uow.workspaces.all()}


def _placed(workspace_id: int | None, workspace: str | None) -> tuple[int, str] | None:
    """Where a key's event is logged: its workspace (seen there only), or for an operator key None (the unit
    of work's, where install-wide rows live)."""
    return (workspace_id, workspace) if workspace_id is not None and workspace is not None else None


def check_scope(text: str) -> Scope:
    """A scope name, or a UserError listing the scopes."""
    for scope in SCOPES:
        if text == scope:
            return scope
    raise UserError(f"unknown scope {text!r} (one of {', '.join(SCOPES)})")


class ApiKeyService:
    """Create, list, revoke and verify keys of one App; the server key is read from the vault once."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._server_key: bytes | None = None
        #: HMAC of a verified key → (its info, monotonic time until which it is trusted)
        self._verified: dict[str, tuple[KeyInfo, float]] = {}

    async def _key(self, uow: Any, *, create: bool) -> bytes | None:
        """The HMAC server key; made (and cached once committed, by `create`) only when asked."""
        if self._server_key is not None:
            return self._server_key
        store = uow.secrets(create_key=create)
        if create:  # two first keys made at once get one server key (SecretStore.get_or_create)
            made: str = await store.get_or_create(*SERVER_KEY, lambda: secrets.token_urlsafe(32))
            return made.encode()
        stored = await store.get(*SERVER_KEY)
        if stored is None:
            return None
        self._server_key = stored.encode()
        return self._server_key

    def _digest(self, server_key: bytes, key: str) -> str:
        return hmac.new(server_key, key.encode(), hashlib.sha256).hexdigest()

    async def create(self, name: str, scope: str, *, source: str = "cli", workspace: str | None = None) -> CreatedKey:
        """A new key named `name` with `scope`, of one `workspace` (None: an operator key for every
        workspace); UserError when the name is bad or taken, NotFoundError for an unknown workspace."""
        wanted = check_scope(scope)
        if not _NAME.match(name):
            raise UserError(f"key name {name!r}: use 1-128 letters, digits, '.', '_' or '-'")
        prefix = secrets.token_hex(4)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        register_secret(key)
        async with self.app.uow(INSTALL_WIDE) as uow:
            repo = ApiKeys(uow.session)
            server_key = await self._key(uow, create=True)
            assert server_key is not None
            names = await _workspace_names(uow)
            workspace_id = next((i for i, n in names.items() if n == workspace), None)
            if workspace is not None and workspace_id is None:
                raise NotFoundError(f"workspace {workspace} does not exist")
            row = await repo.by_name(name)
            if row is not None and row.revoked_at is None:
                raise UserError(f"an API key named {name!r} exists already (revoke it first)")
            if row is None:
                row = ApiKey(name=name)
                repo.add(row)
            # A revoked key's row is reused: the name is free again, its history stays in the audit log.
            row.prefix, row.key_hash, row.scopes = prefix, self._digest(server_key, key), wanted
            row.workspace_id = workspace_id
            row.created_at, row.last_used_at, row.revoked_at = utcnow(), None, None
            try:
                await repo.flush()
            except IntegrityError:
                raise UserError(f"an API key named {name!r} exists already (revoke it first)") from None
            payload = events.ApiKeyPayload(name=name, scope=wanted, prefix=prefix, workspace=workspace)
            uow.emit(events.KEY_CREATED, payload, source=source, workspace=_placed(workspace_id, workspace))
            info = _info(row, names)
            await uow.commit()
        self._server_key = server_key
        return CreatedKey(info, key)

    async def list(self) -> list[KeyInfo]:
        """Every key (revoked ones too), by name."""
        if not self.app.has_state():
            return []
        async with self.app.uow(INSTALL_WIDE) as uow:
            names = await _workspace_names(uow)
            return [_info(r, names) for r in await ApiKeys(uow.session).all()]

    async def revoke(self, name: str, *, source: str = "cli") -> KeyInfo:
        """Revoke a key at once; UserError when there is no such key."""
        async with self.app.uow(INSTALL_WIDE) as uow:
            row = await ApiKeys(uow.session).by_name(name)
            if row is None:
                raise UserError(f"no API key named {name!r} (see `email-infra apikey list`)")
            self._verified.clear()
            names = await _workspace_names(uow)
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                workspace = None if row.workspace_id is None else names.get(row.workspace_id)
                payload = events.ApiKeyPayload(name=name, prefix=row.prefix, workspace=workspace)
                placed = _placed(row.workspace_id, workspace)
                uow.emit(events.KEY_REVOKED, payload, source=source, workspace=placed)
            info = _info(row, names)
            await uow.commit()
        return info

    async def replace(self, name: str, scope: str, *, source: str = "cli") -> CreatedKey:
        """Revoke the key called `name` if it is active, then create it anew (a login key that each
        `serve --login-key` shows once)."""
        if self.app.has_state() and any(k.name == name and k.revoked_at is None for k in await self.list()):
            await self.revoke(name, source=source)
        return await self.create(name, scope, source=source)

    async def verify(self, key: str | None) -> KeyInfo:
        """The key's info; AuthenticationError when it is missing, malformed, unknown or revoked."""
        if not key:
            raise AuthenticationError("an API key is required: send it as a bearer token in the Authorization header")
        match = _KEY.match(key)
        if match is None:
            raise AuthenticationError("the API key is not valid")
        if self._server_key is None and not self.app.has_vault_key():  # no key was ever created
            raise AuthenticationError("the API key is not valid")
        now_mono = time.monotonic()
        if self._server_key is not None:
            cached = self._verified.get(self._digest(self._server_key, key))
            if cached is not None and cached[1] > now_mono:
                return cached[0]
        async with self.app.uow(INSTALL_WIDE) as uow:
            await read_only(uow.session)
            server_key = await self._key(uow, create=False)
            if server_key is None:  # no key was ever created
                raise AuthenticationError("the API key is not valid")
            digest = self._digest(server_key, key)
            found = None
            for row in await ApiKeys(uow.session).by_prefix(match[1]):
                if hmac.compare_digest(row.key_hash, digest) and row.revoked_at is None:
                    found = row
            if found is None:
                raise AuthenticationError("the API key is not valid")
            info = _info(found, await _workspace_names(uow))
        now = utcnow()
        if stale(info.last_used_at, now, TOUCH_EVERY):
            # written in a transaction of its own: the read above took no write lock
            async with self.app.uow(INSTALL_WIDE) as uow:
                touched = await ApiKeys(uow.session).by_name(info.name)
                if touched is not None:
                    touched.last_used_at = now
                    info = _info(touched, await _workspace_names(uow))
                    await uow.commit()
        if len(self._verified) > 10_000:  # bounded: forget them all rather than grow
            self._verified.clear()
        self._verified[digest] = (info, now_mono + VERIFIED_FOR)
        return info


def require(info: KeyInfo, needed: Scope) -> None:
    """PermissionDeniedError unless `info`'s scope includes `needed`."""
    if not info.allows(needed):
        raise PermissionDeniedError(f"this needs the {needed} scope; the key {info.name!r} has {info.scope}")


__all__ = [
    "SCOPES",
    "ApiKeyService",
    "AuthenticationError",
    "CreatedKey",
    "KeyInfo",
    "PermissionDeniedError",
    "Scope",
    "check_scope",
    "require",
]

"""Dashboard sessions: a signed cookie naming the API key logged in with, and a CSRF token per session.

The cookie holds the key's name and public prefix, never the key: every request looks the key
up again (ApiKeyService.list), so a revoked key ends its sessions at once and a changed scope
counts at once. The signing secret is random, kept in the vault and registered as a secret so
that the log redaction hides it.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.core.secret_names import DASHBOARD_SESSION_KEY
from email_infrastructure.services.apikeys import ApiKeyService, KeyInfo
from email_infrastructure.services.app import App

COOKIE = "ei_session"
#: a session lasts this long after login (seconds), then the key must be given again
MAX_AGE = 12 * 3600
#: where the signing secret lives in the vault (owner, name)
SECRET = DASHBOARD_SESSION_KEY
_SALT = "email-infra.dashboard.session"


class LoginRequired(EmailInfraError):
    """The page needs a logged-in session."""


class CsrfError(EmailInfraError):
    """A form came without this session's CSRF token."""


@dataclass
class Visitor:
    """Who is asking: the key logged in with (None before login) and the session's CSRF token."""

    key: KeyInfo | None
    csrf: str


class Sessions:
    """Signs and reads session cookies with the vault's dashboard secret (made on first use)."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._serializer: URLSafeTimedSerializer | None = None
        self._lock = asyncio.Lock()

    async def serializer(self) -> URLSafeTimedSerializer:
        """The signer, its secret read from (or first written to) the vault."""
        if self._serializer is None:
            async with self._lock:
                if self._serializer is None:
                    self._serializer = URLSafeTimedSerializer(await self._secret(), salt=_SALT)
        return self._serializer

    async def _secret(self) -> str:
        from email_infrastructure.services.sessions import session_secret

        return await session_secret(self.app)

    async def read(self, request: Request) -> dict[str, Any] | None:
        """The session's data, or None when there is no cookie or it is forged or expired."""
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            data = (await self.serializer()).loads(raw, max_age=MAX_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) and isinstance(data.get("csrf"), str) else None

    async def write(self, response: Response, data: dict[str, Any], *, secure: bool) -> None:
        """Set the session cookie: HttpOnly, SameSite=Strict, Secure outside development."""
        value = (await self.serializer()).dumps(data)
        response.set_cookie(COOKIE, value, max_age=MAX_AGE, httponly=True, samesite="strict", secure=secure, path="/")


def sessions_of(request: Request) -> Sessions:
    """The session signer of the running app (made on its first request: the App exists only then)."""
    found: Sessions | None = getattr(request.app.state, "dashboard_sessions", None)
    if found is None or found.app is not request.app.state.app:
        found = Sessions(request.app.state.app)
        request.app.state.dashboard_sessions = found
    return found


def fresh(key: KeyInfo | None = None) -> dict[str, Any]:
    """New session data with a new CSRF token (a login always gets a new one)."""
    data: dict[str, Any] = {"csrf": secrets.token_urlsafe(32)}
    if key is not None:
        data["key"], data["prefix"] = key.name, key.prefix
    return data


async def visitor(request: Request) -> Visitor:
    """The request's visitor; a new session (to be set on the response) when it had none."""
    cached: Visitor | None = getattr(request.state, "visitor", None)
    if cached is not None:
        return cached
    data = await sessions_of(request).read(request)
    key: KeyInfo | None = None
    if data is not None and isinstance(data.get("key"), str):
        keys: ApiKeyService = request.app.state.keys
        key = next(
            (
                k
                for k in await keys.list()
                if k.name == data["key"] and k.prefix == data.get("prefix") and k.revoked_at is None
            ),
            None,
        )
        if key is None:  # revoked (or re-created) since login: the session ends
            data = None
    if data is None:
        data = fresh()
        request.state.new_session = data
    found = Visitor(key, str(data["csrf"]))
    request.state.visitor = found
    return found


async def logged_in(request: Request) -> Visitor:
    """The visitor, who must be logged in (LoginRequired otherwise)."""
    found = await visitor(request)
    if found.key is None:
        raise LoginRequired("log in with an API key")
    return found


async def check_csrf(request: Request) -> dict[str, str]:
    """The posted form, once its `csrf` field matches the session's (CsrfError otherwise)."""
    found = await visitor(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    sent = fields.get("csrf", "")
    if getattr(request.state, "new_session", None) is not None or not hmac.compare_digest(
        sent.encode(), found.csrf.encode()
    ):
        raise CsrfError("the form is stale or was not sent from this dashboard: reload the page and try again")
    return fields


__all__ = [
    "COOKIE",
    "CsrfError",
    "LoginRequired",
    "Sessions",
    "Visitor",
    "check_csrf",
    "fresh",
    "logged_in",
    "sessions_of",
    "visitor",
]

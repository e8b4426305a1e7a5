"""EmailBison sender emails (reference: sequencer-apis.md §3), keyed by integer id, one host per customer.

Create answers 201 `{"data": {…}}` (no password); a second create of one email is a 422 "already
been taken", which becomes AccountExistsError. The create route is known to answer 500 now and
then: it is never retried blindly, the email is looked up instead. No route changes a password, so
a password change deletes the sender email and creates it again: its id changes (and its campaign
links at EmailBison are lost). Rate limits are undocumented: 5 requests per second is our guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import httpx

from email_infrastructure.core.errors import ProviderNotFoundError, ProviderValidationError, UserError
from email_infrastructure.core.http import Limiter, Limiters, RetryPolicy, Sleep, windows
from email_infrastructure.core.logging import register_secret
from email_infrastructure.sequencers.common import (
    LOST_ANSWER,
    SequencerClient,
    Unbatched,
    recover_lost_create,
    with_settings,
)
from email_infrastructure.sequencers.provider import (
    AccountExistsError,
    AccountHealth,
    AccountSettings,
    HealthState,
    Login,
    RemoteAccount,
)

SENDERS = "/api/sender-emails"
#: asked for; honoured up to which value is unconfirmed (the default is 15): we follow `meta.last_page` anyway
PAGE_SIZE = 100
#: settings the API cannot set or we cannot read back: warmup volume has a bulk route but its value is
#: only in the dated warmup listing; ramp-up, reply rate, tracking host and gap have no field; tags need tag ids
UNSUPPORTED: frozenset[str] = frozenset(
    {"warmup_per_day", "ramp_up", "reply_rate", "tracking_domain", "sending_gap", "tags"}
)
_TAKEN = ("already been taken", "already exists")


def default_limiter(clock: Callable[[], float] = time.monotonic) -> Limiters:
    """EmailBison documents no limit: a conservative 5 requests per second."""
    return windows((5, 1.0), clock=clock)


class _EmailBisonClient(SequencerClient):
    provider = "emailbison"


def settings_of(raw: dict[str, Any]) -> AccountSettings:
    """Our settings from a sender email."""
    return AccountSettings(
        daily_limit=raw.get("daily_limit"),
        warmup=raw.get("warmup_enabled"),
        signature=raw.get("email_signature"),
        tags=tuple(str(t.get("name", "")) for t in raw.get("tags") or [] if isinstance(t, dict)),
    )


def health_of(raw: dict[str, Any]) -> AccountHealth:
    """`status` ("Connected" is the one confirmed value) and `warmup_enabled`."""
    state: HealthState
    status = raw.get("status")
    warmup = raw.get("warmup_enabled")
    if status == "Connected":
        state, detail, connected = "ok", "", True
    elif isinstance(status, str) and status:
        state, detail, connected = "error", status, False
    else:
        state, detail, connected = "unknown", "", None
    return AccountHealth(
        state=state,
        detail=detail,
        connected=connected,
        warmup=None if warmup is None else ("enabled" if warmup else "disabled"),
    )


def _account(raw: dict[str, Any]) -> RemoteAccount:
    return RemoteAccount(str(raw["id"]), str(raw.get("email", "")), settings_of(raw), health_of(raw))


class EmailBisonProvider(Unbatched):
    """Sender emails on one EmailBison instance (`api_url` is required: every customer has a host)."""

    type: ClassVar[str] = "emailbison"
    can_create: ClassVar[bool] = True
    unsupported: ClassVar[frozenset[str]] = UNSUPPORTED

    def __init__(
        self,
        token: str,
        *,
        name: str,
        api_url: str | None = None,
        rate_limiter: Limiter | None = None,
        sleep: Sleep = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        if not api_url:
            raise UserError(
                f"sequencer {name}: EmailBison needs `api_url` (the instance's host, e.g. https://dedi.emailbison.com)"
            )
        register_secret(token)
        self.name = name
        self._client = _EmailBisonClient(
            api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            rate_limiter=rate_limiter or default_limiter(),
            sleep=sleep,
            transport=transport,
            retry=retry,
        )
        self._client.provider = name

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _pages(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        page = 1
        while True:
            answer = await self._client.json("GET", SENDERS, params={**filters, "page": page, "per_page": PAGE_SIZE})
            for raw in answer.get("data") or []:
                yield raw
            last = (answer.get("meta") or {}).get("last_page")
            if not isinstance(last, int) or page >= last:
                return
            page += 1

    async def accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every sender email of the token's workspace, `page` by `page` up to `meta.last_page`."""
        async for raw in self._pages():
            yield _account(raw)

    async def find(self, email: str) -> RemoteAccount | None:
        """The list filtered by `search=` (a partial match on email and name), then the exact address."""
        async for raw in self._pages(search=email):
            if str(raw.get("email", "")).lower() == email.lower():
                return _account(raw)
        return None

    async def create(self, login: Login, settings: AccountSettings, *, absent: bool = False) -> RemoteAccount:
        """One POST; then one PATCH for the daily limit and one for warmup when they differ."""
        body: dict[str, Any] = {
            "name": f"{login.first_name} {login.last_name}".strip(),
            "email": login.email,
            "password": login.password,  # one password serves both legs at EmailBison
            "imap_server": login.imap_host,
            "imap_port": login.imap_port,
            "smtp_server": login.smtp_host,
            "smtp_port": login.smtp_port,
        }
        if settings.signature is not None:
            body["email_signature"] = settings.signature
        try:
            answer = await self._client.json(
                "POST", f"{SENDERS}/imap-smtp", json=body, idempotent=False, retry_unavailable=False
            )
        except LOST_ANSWER as exc:
            account = await recover_lost_create(exc, lambda: self.find(login.email))
        except ProviderValidationError as exc:
            if any(m in str(exc).lower() for m in _TAKEN):
                raise AccountExistsError(f"{login.email}: {exc}", provider=self.name, status=exc.status) from None
            raise
        else:
            account = _account(answer["data"])
        return await self.update(account, settings)

    async def update(self, account: RemoteAccount, settings: AccountSettings) -> RemoteAccount:
        """One PATCH of `daily_limit`/`email_signature`, one PATCH enable/disable; nothing when all match."""
        changed = set(settings.differs(account.settings)) - UNSUPPORTED
        body: dict[str, Any] = {}
        if "daily_limit" in changed:
            body["daily_limit"] = settings.daily_limit
        if "signature" in changed:
            body["email_signature"] = settings.signature
        if body:
            answer = await self._client.json("PATCH", f"{SENDERS}/{account.remote_id}", json=body, idempotent=True)
            account = _account(answer["data"])
        if "warmup" in changed and settings.warmup is not None:
            route = "enable" if settings.warmup else "disable"
            ids = {"sender_email_ids": [int(account.remote_id)]}
            await self._client.request("PATCH", f"/api/warmup/sender-emails/{route}", json=ids, idempotent=True)
            account = with_settings(account, warmup=settings.warmup)
        return account

    async def change_password(self, account: RemoteAccount, login: Login) -> RemoteAccount:
        """No route takes a password: delete, then create with the account's settings (a new id)."""
        await self.delete(account)
        return await self.create(login, account.settings)

    async def delete(self, account: RemoteAccount) -> None:
        """`DELETE /api/sender-emails/{id}`; 404 counts as done."""
        try:
            await self._client.request("DELETE", f"{SENDERS}/{account.remote_id}")
        except ProviderNotFoundError:
            return

    async def health(self, emails: Sequence[str]) -> dict[str, AccountHealth]:
        """From the listing (1 call per page); warmup score and sends today are not in it."""
        wanted = {e.lower(): e for e in emails}
        out: dict[str, AccountHealth] = {}
        async for raw in self._pages():
            email = wanted.get(str(raw.get("email", "")).lower())
            if email is not None:
                out[email] = health_of(raw)
        return out

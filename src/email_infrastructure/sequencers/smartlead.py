"""Smartlead API v1 email accounts (reference: sequencer-apis.md §2), keyed by integer id.

Smartlead returns SMTP/IMAP passwords in its reads (plaintext on get, base64 in the list): every
body goes through `scrub()` first, before any value type, log line or error sees it, and error
text comes only from a JSON `message` (never an HTML page that might echo the request). The key
rides in the query string (`?api_key=`), so it is registered for redaction: httpx logs URLs.

`save` without an `id` of an email Smartlead already holds may update it or add a second account
(unconfirmed), so `create` looks the email up first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import httpx

from email_infrastructure.core.errors import ProviderError, ProviderNotFoundError
from email_infrastructure.core.http import Limiter, Limiters, RetryPolicy, Sleep, windows
from email_infrastructure.core.logging import register_secret
from email_infrastructure.sequencers.common import (
    LOST_ANSWER,
    SequencerClient,
    Unbatched,
    merged,
    recover_lost_create,
)
from email_infrastructure.sequencers.provider import (
    AccountExistsError,
    AccountHealth,
    AccountSettings,
    HealthState,
    Login,
    RemoteAccount,
)

DEFAULT_API_URL = "https://server.smartlead.ai/api/v1"
PAGE_SIZE = 100
#: settings our Smartlead client does not set: tags need tag ids (tag-mapping route, not wired);
#: the ramp-up step is sent on create but never read back, so an update could not tell it differs
UNSUPPORTED: frozenset[str] = frozenset({"tags", "ramp_up"})
#: settings of `POST /email-accounts/{id}` (request names; reads rename them, §2.4)
_SETTINGS = {
    "daily_limit": "max_email_per_day",
    "tracking_domain": "custom_tracking_url",
    "signature": "signature",
    "sending_gap": "time_to_wait_in_mins",
}
#: settings of `POST /email-accounts/{id}/warmup`
_WARMUP = {"warmup_per_day": "total_warmup_per_day", "ramp_up": "daily_rampup", "reply_rate": "reply_rate_percentage"}


def default_limiter(clock: Callable[[], float] = time.monotonic) -> Limiters:
    """The strictest documented statements together: 10 per 2 s and 60 per minute (429s cover the hourly cap)."""
    return windows((10, 2.0), (60, 60.0), clock=clock)


def scrub(body: Any) -> Any:
    """The body without any key naming a password (`password`, `imap_password`, `encrypted_password`…)."""
    if isinstance(body, dict):
        return {k: scrub(v) for k, v in body.items() if not (isinstance(k, str) and "password" in k.lower())}
    if isinstance(body, list):
        return [scrub(v) for v in body]
    return body


class _SmartleadClient(SequencerClient):
    provider = "smartlead"

    def __init__(self, base_url: str, *, api_key: str, **options: Any) -> None:
        super().__init__(base_url, **options)
        # Smartlead takes the key only in the query string, on every request
        self._client.params = httpx.QueryParams({"api_key": api_key})

    async def read(self, method: str, path: str, **kwargs: Any) -> Any:
        """`json()` with the passwords dropped before anything else sees the body."""
        return scrub(await self.json(method, path, **kwargs))


def _percent(value: Any) -> float | None:
    """`warmup_reputation` is "95%" in the list and 95 on get."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip().rstrip("%"))
        except ValueError:
            return None
    return None


def settings_of(raw: dict[str, Any]) -> AccountSettings:
    """Our settings from an account read (response names: `message_per_day`, `minTimeToWaitInMins`…)."""
    warmup = raw.get("warmup_details") or {}
    return AccountSettings(
        daily_limit=raw.get("message_per_day"),
        warmup=warmup.get("status") == "ACTIVE" if warmup.get("status") else None,
        warmup_per_day=warmup.get("max_email_per_day"),
        reply_rate=warmup.get("reply_rate"),
        tracking_domain=raw.get("custom_tracking_domain"),
        signature=raw.get("signature"),
        sending_gap=raw.get("minTimeToWaitInMins"),
        tags=tuple(str(t.get("tag_name", "")) for t in raw.get("tags") or [] if isinstance(t, dict)),
    )


def health_of(raw: dict[str, Any]) -> AccountHealth:
    """`is_smtp_success`/`is_imap_success` (+ their errors), `warmup_details`, `daily_sent_count`."""
    state: HealthState
    smtp, imap = raw.get("is_smtp_success"), raw.get("is_imap_success")
    warmup = raw.get("warmup_details") or {}
    status = warmup.get("status")
    connected = None if smtp is None or imap is None else bool(smtp and imap)
    if connected is False:
        errors = [
            f"{leg}: {raw.get(f'{leg.lower()}_failure_error') or 'failed'}"
            for leg, ok in (("SMTP", smtp), ("IMAP", imap))
            if not ok
        ]
        state, detail = "error", "; ".join(errors)
    elif warmup.get("is_warmup_blocked"):
        state, detail = "warning", f"warmup blocked: {warmup.get('blocked_reason') or 'no reason given'}"
    elif raw.get("is_suspended"):
        state, detail = "warning", "suspended"
    else:
        state, detail = ("ok" if connected else "unknown"), ""
    sent = raw.get("daily_sent_count")
    return AccountHealth(
        state=state,
        detail=detail,
        connected=connected,
        warmup=status.lower() if isinstance(status, str) else None,
        warmup_score=_percent(warmup.get("warmup_reputation")),
        sent_today=sent if isinstance(sent, int) else None,
    )


def _account(raw: dict[str, Any]) -> RemoteAccount:
    return RemoteAccount(str(raw["id"]), str(raw.get("from_email", "")), settings_of(raw), health_of(raw))


class SmartleadProvider(Unbatched):
    """Email accounts at Smartlead (`?api_key=`); `client_id` scopes an agency key to one sub-client."""

    type: ClassVar[str] = "smartlead"
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
        client_id: int | None = None,
    ) -> None:
        register_secret(token)
        self.name = name
        self.client_id = client_id
        self._client = _SmartleadClient(
            (api_url or DEFAULT_API_URL).rstrip("/"),
            api_key=token,
            rate_limiter=rate_limiter or default_limiter(),
            sleep=sleep,
            transport=transport,
            retry=retry,
        )
        self._client.provider = name

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _filters(self) -> dict[str, Any]:
        return {} if self.client_id is None else {"client_id": self.client_id}

    async def _pages(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            params = {**self._filters(), **filters, "offset": offset, "limit": PAGE_SIZE}
            page = await self._client.read("GET", "/email-accounts/", params=params)
            rows = page if isinstance(page, list) else []
            for raw in rows:
                yield raw
            if len(rows) < PAGE_SIZE:  # no total is returned: a short page is the last
                return
            offset += PAGE_SIZE

    async def accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every account, 100 per page by offset."""
        async for raw in self._pages():
            yield _account(raw)

    async def find(self, email: str) -> RemoteAccount | None:
        """The list filtered by `username=` (a partial match), then the exact address."""
        async for raw in self._pages(username=email):
            if str(raw.get("from_email", "")).lower() == email.lower():
                return _account(raw)
        return None

    async def _get(self, account_id: str) -> RemoteAccount:
        return _account(await self._client.read("GET", f"/email-accounts/{account_id}/"))

    def _save_body(self, login: Login, settings: AccountSettings) -> dict[str, Any]:
        body: dict[str, Any] = {
            "from_name": f"{login.first_name} {login.last_name}".strip(),
            "from_email": login.email,
            "user_name": login.username,
            "password": login.password,
            "smtp_host": login.smtp_host,
            "smtp_port": login.smtp_port,
            "imap_host": login.imap_host,
            "imap_port": login.imap_port,
            "warmup_enabled": bool(settings.warmup),
            **self._filters(),
        }
        for ours, theirs in (_SETTINGS | _WARMUP).items():
            if (value := getattr(settings, ours)) is not None:
                body[theirs] = value
        return body

    async def _save(self, body: dict[str, Any], email: str) -> RemoteAccount:
        # with an `id`, save overwrites that account: sending it twice does no harm
        keyed = "id" in body
        try:
            response = await self._client.request(
                "POST", "/email-accounts/save", json=body, idempotent=keyed, retry_unavailable=keyed
            )
        except LOST_ANSWER as exc:
            if keyed:
                raise  # retried already; whether the new password took is unknown: the next run sends it again
            return await recover_lost_create(exc, lambda: self.find(email))
        try:
            parsed = scrub(response.json())
        except ValueError:
            parsed = None  # some Smartlead writes answer plain text ("success")
        answer: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
        # two success shapes: `{emailAccountId}` (captured) or `{data: {id}}` (docs); neither: look it up
        data = answer["data"] if isinstance(answer.get("data"), dict) else {}
        account_id = answer.get("emailAccountId") or data.get("id")
        if account_id is None:
            found = await self.find(email)
            if found is None:
                raise ProviderError(f"save of {email}: no account id in the answer", provider=self.name)
            return found
        return await self._get(str(account_id))

    async def create(self, login: Login, settings: AccountSettings, *, absent: bool = False) -> RemoteAccount:
        """Look up (1 call), save (1), read back (1); warmup fields the save ignored are then updated."""
        if not absent and await self.find(login.email) is not None:
            raise AccountExistsError(f"{login.email} is already an account at Smartlead", provider=self.name)
        account = await self._save(self._save_body(login, settings), login.email)
        if settings.differs(account.settings).keys() - UNSUPPORTED:
            account = await self.update(account, settings)
        return account

    async def update(self, account: RemoteAccount, settings: AccountSettings) -> RemoteAccount:
        """One settings POST and/or one warmup POST for the differing fields, then one read back."""
        changed = set(settings.differs(account.settings)) - UNSUPPORTED
        if not changed:
            return account
        base = f"/email-accounts/{account.remote_id}"
        plain = {theirs: getattr(settings, ours) for ours, theirs in _SETTINGS.items() if ours in changed}
        if plain:
            await self._client.request("POST", base, json=plain, idempotent=True)
        if changed & ({"warmup"} | set(_WARMUP)):
            want = merged(settings, account.settings)
            body: dict[str, Any] = {"warmup_enabled": bool(want.warmup)}
            body |= {theirs: getattr(settings, ours) for ours, theirs in _WARMUP.items() if ours in changed}
            await self._client.request("POST", f"{base}/warmup", json=body, idempotent=True)
        return await self._get(account.remote_id)

    async def change_password(self, account: RemoteAccount, login: Login) -> RemoteAccount:
        """`save` with the account's `id` and the new credentials (1 call + 1 read back)."""
        body = self._save_body(login, AccountSettings(warmup=account.settings.warmup)) | {"id": int(account.remote_id)}
        return await self._save(body, login.email)

    async def delete(self, account: RemoteAccount) -> None:
        """`DELETE /email-accounts/{id}` (a soft delete at Smartlead); 404 counts as done."""
        try:
            await self._client.request("DELETE", f"/email-accounts/{account.remote_id}")
        except ProviderNotFoundError:
            return

    async def health(self, emails: Sequence[str]) -> dict[str, AccountHealth]:
        """From the listing: 1 call per 100 accounts."""
        wanted = {e.lower(): e for e in emails}
        out: dict[str, AccountHealth] = {}
        async for raw in self._pages():
            email = wanted.get(str(raw.get("from_email", "")).lower())
            if email is not None:
                out[email] = health_of(raw)
        return out

"""Instantly API v2 sender accounts (reference: sequencer-apis.md §1), keyed by the email address.

Credentials go out on create only: Instantly has no route that changes a password, so a password
change deletes the account and creates it again with the same settings (its history and campaign
links at Instantly are lost; the plan says so). Warmup on/off is a background job: we start it and
do not wait. Sends today come from one daily-analytics call per 200 accounts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from email_infrastructure.core.errors import ProviderError, ProviderNotFoundError, ProviderValidationError
from email_infrastructure.core.http import Limiter, Limiters, RetryPolicy, Sleep, windows
from email_infrastructure.core.logging import register_secret
from email_infrastructure.sequencers.common import (
    LOST_ANSWER,
    SequencerClient,
    merged,
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

DEFAULT_API_URL = "https://api.instantly.ai"
ACCOUNTS = "/api/v2/accounts"
PAGE_SIZE = 100
#: emails one warmup enable/disable job takes (sequencer-apis.md §1.2)
WARMUP_BATCH = 100
#: settings Instantly's API cannot set (no tag-assignment route in the accounts API)
UNSUPPORTED: frozenset[str] = frozenset({"tags"})
_STATUS: dict[int, tuple[HealthState, str, bool | None]] = {
    1: ("ok", "active", True),
    2: ("warning", "paused", True),
    3: ("warning", "paused for maintenance", True),
    -1: ("error", "connection error", False),
    -2: ("error", "soft bounce error", None),
    -3: ("error", "sending error", None),
}
_WARMUP = {0: "paused", 1: "active", -1: "banned", -2: "spam folder unknown", -3: "permanent suspension"}


def default_limiter(clock: Callable[[], float] = time.monotonic) -> Limiters:
    """Instantly's documented budget: 100 requests per second and 6,000 per minute (per workspace)."""
    return windows((100, 1.0), (6000, 60.0), clock=clock)


class _InstantlyClient(SequencerClient):
    provider = "instantly"


def _path(email: str) -> str:
    return f"{ACCOUNTS}/{quote(email, safe='@')}"


def _ramp(increment: Any) -> int | None:
    if increment == "disabled":
        return 0
    return int(increment) if isinstance(increment, str) and increment.isdigit() else None


def settings_of(raw: dict[str, Any]) -> AccountSettings:
    """Our settings from an Account (reply rate: Instantly's fraction as a percentage)."""
    warmup = raw.get("warmup") or {}
    rate = warmup.get("reply_rate")
    return AccountSettings(
        daily_limit=raw.get("daily_limit"),
        warmup=raw.get("warmup_status", 0) != 0,
        warmup_per_day=warmup.get("limit"),
        ramp_up=_ramp(warmup.get("increment")),
        reply_rate=round(rate * 100) if isinstance(rate, int | float) else None,
        tracking_domain=raw.get("tracking_domain_name"),
        signature=raw.get("signature"),
        sending_gap=raw.get("sending_gap"),
        tags=tuple(str(t.get("label", "")) for t in raw.get("tags") or [] if isinstance(t, dict)),
    )


def health_of(raw: dict[str, Any], sent_today: int | None = None) -> AccountHealth:
    """`status`, `status_message`, `warmup_status` and `stat_warmup_score`, normalised."""
    status = raw.get("status")
    unknown: tuple[HealthState, str, bool | None] = ("unknown", "" if status is None else f"status {status}", None)
    state, detail, connected = _STATUS.get(status, unknown) if isinstance(status, int) else unknown
    message = raw.get("status_message")
    if state == "error" and isinstance(message, dict):
        words = message.get("e_message") or message.get("response") or message.get("code")
        detail = f"{detail}: {words}" if words else detail
    warmup_status = raw.get("warmup_status")
    warmup = _WARMUP.get(warmup_status, str(warmup_status)) if isinstance(warmup_status, int) else None
    if state == "ok" and isinstance(warmup_status, int) and warmup_status < 0:
        state, detail = "warning", f"warmup {warmup}"
    score = raw.get("stat_warmup_score")
    return AccountHealth(
        state=state,
        detail=detail,
        connected=connected,
        warmup=warmup,
        warmup_score=float(score) if isinstance(score, int | float) else None,
        sent_today=sent_today,
    )


def _account(raw: dict[str, Any], sent_today: int | None = None) -> RemoteAccount:
    email = str(raw["email"])
    return RemoteAccount(email, email, settings_of(raw), health_of(raw, sent_today))


def _warmup_body(settings: AccountSettings) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if settings.warmup_per_day is not None:
        body["limit"] = settings.warmup_per_day
    if settings.ramp_up is not None:
        body["increment"] = "disabled" if settings.ramp_up == 0 else str(min(settings.ramp_up, 4))
    if settings.reply_rate is not None:
        body["reply_rate"] = settings.reply_rate / 100
    return body


def _settings_body(settings: AccountSettings) -> dict[str, Any]:
    """The CreateAccount/PatchAccount keys of the declared settings (warmup on/off is a job, not a key)."""
    body: dict[str, Any] = {}
    for ours, theirs in (
        ("daily_limit", "daily_limit"),
        ("sending_gap", "sending_gap"),
        ("signature", "signature"),
        ("tracking_domain", "tracking_domain_name"),
    ):
        if (value := getattr(settings, ours)) is not None:
            body[theirs] = value
    if warmup := _warmup_body(settings):
        body["warmup"] = warmup
    return body


class InstantlyProvider:
    """Sender accounts at Instantly (API v2, bearer key)."""

    type: ClassVar[str] = "instantly"
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
        provider_code: int = 1,
    ) -> None:
        register_secret(token)
        self.name = name
        #: 1 = custom IMAP/SMTP (our Mailcow mailboxes); Instantly says a wrong code breaks the account
        self.provider_code = provider_code
        self._client = _InstantlyClient(
            (api_url or DEFAULT_API_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            rate_limiter=rate_limiter or default_limiter(),
            sleep=sleep,
            transport=transport,
            retry=retry,
        )
        self._client.provider = name
        #: warmup on (True) or off (False) asked for, not sent yet: `flush`
        self._queued: dict[bool, list[str]] = {True: [], False: []}
        self._sent: set[str] = set()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _pages(self) -> AsyncIterator[dict[str, Any]]:
        params: dict[str, Any] = {"limit": PAGE_SIZE, "include_tags": "true"}
        while True:
            page = await self._client.json("GET", ACCOUNTS, params=params)
            for raw in page.get("items") or []:
                yield raw
            cursor = page.get("next_starting_after")
            # a missing cursor ends the listing; a short page too (whether the last page carries one is unconfirmed)
            if not cursor or len(page.get("items") or []) < PAGE_SIZE:
                return
            params = {**params, "starting_after": cursor}

    async def accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every account, 100 per page by cursor."""
        async for raw in self._pages():
            yield _account(raw)

    async def find(self, email: str) -> RemoteAccount | None:
        """`GET /accounts/{email}`; 404 → None."""
        try:
            return _account(await self._client.json("GET", _path(email)))
        except ProviderNotFoundError:
            return None

    async def create(self, login: Login, settings: AccountSettings, *, absent: bool = False) -> RemoteAccount:
        """GET (absent?), POST, and a warmup job when warmup is wanted; a lost answer is followed by `find`.

        The look-up first: whether a second POST of one email is refused or answers the existing
        account (keeping its old password) is unconfirmed, and a GET costs little of the budget.
        """
        if not absent and await self.find(login.email) is not None:
            raise AccountExistsError(f"{login.email} is already an account at Instantly", provider=self.name)
        body = {
            "email": login.email,
            "first_name": login.first_name,
            "last_name": login.last_name,
            "provider_code": self.provider_code,
            "imap_username": login.username,
            "imap_password": login.password,
            "imap_host": login.imap_host,
            "imap_port": login.imap_port,
            "smtp_username": login.username,
            "smtp_password": login.password,
            "smtp_host": login.smtp_host,
            "smtp_port": login.smtp_port,
            **_settings_body(settings),
        }
        try:
            raw = await self._client.json("POST", ACCOUNTS, json=body, idempotent=False, retry_unavailable=False)
        except LOST_ANSWER as exc:
            account = await recover_lost_create(exc, lambda: self.find(login.email))
        except ProviderValidationError as exc:
            # made between our look-up and the POST: status and words unconfirmed (the spec lists no 409)
            if "already" in str(exc).lower():
                raise AccountExistsError(f"{login.email}: {exc}", provider=self.name, status=exc.status) from None
            raise
        else:
            account = _account(raw)
        if settings.warmup and not account.settings.warmup:
            self._queued[True].append(login.email)  # one job per 100 accounts: `flush`
            account = with_settings(account, warmup=True)
        return account

    async def _warmup(self, emails: list[str], enable: bool) -> None:
        """Start the background job and do not wait for it (the next listing shows its effect)."""
        route = "enable" if enable else "disable"
        await self._client.request("POST", f"{ACCOUNTS}/warmup/{route}", json={"emails": emails}, idempotent=True)

    async def update(self, account: RemoteAccount, settings: AccountSettings) -> RemoteAccount:
        """One PATCH of the differing keys, one warmup job if on/off differs; nothing when all match."""
        changed = {name for name in settings.differs(account.settings) if name not in UNSUPPORTED}
        patch_fields = changed - {"warmup"}
        if patch_fields:
            # the whole warmup object goes out: whether PATCH merges nested keys is unconfirmed
            want = merged(settings, account.settings)
            body = {k: v for k, v in _settings_body(want).items() if k == "warmup" or _key(k) in patch_fields}
            if not patch_fields & {"warmup_per_day", "ramp_up", "reply_rate"}:
                body.pop("warmup", None)
            raw = await self._client.json("PATCH", _path(account.remote_id), json=body, idempotent=True)
            account = _account(raw)
        if "warmup" in changed and settings.warmup is not None:
            self._queued[settings.warmup].append(account.remote_id)  # one job per 100 accounts: `flush`
            account = with_settings(account, warmup=settings.warmup)
        return account

    async def flush(self) -> list[str]:
        """Start the queued warmup jobs, 100 emails a job (the routes take up to 100); the emails sent.

        Accounts are created and updated without waiting for their job; a run stopped before its
        flush leaves warmup off there, which the next plan sees and asks for again.
        """
        sent: list[str] = []
        for enable, emails in self._queued.items():
            # what was asked for until now, taken before any call: steps flush concurrently, and none may
            # send another's batch again, nor chase what others queue while it waits
            taken = emails[:]
            emails.clear()
            for start in range(0, len(taken), WARMUP_BATCH):
                batch = taken[start : start + WARMUP_BATCH]
                try:
                    await self._warmup(batch, enable)
                except BaseException:
                    emails[:0] = taken[start:]  # not sent: the next flush (or the next run) asks again
                    raise
                sent += batch
                if enable:
                    self._sent.update(batch)
        return sent

    def warmups_sent(self) -> frozenset[str]:
        """Every email whose warmup job a flush of this client sent."""
        return frozenset(self._sent)

    async def change_password(self, account: RemoteAccount, login: Login) -> RemoteAccount:
        """No route takes a password: delete, then create with the account's settings (2-3 calls)."""
        await self.delete(account)
        return await self.create(login, account.settings)

    async def delete(self, account: RemoteAccount) -> None:
        """`DELETE /accounts/{email}`; 404 counts as done."""
        try:
            await self._client.request("DELETE", _path(account.remote_id))
        except ProviderNotFoundError:
            return

    async def health(self, emails: Sequence[str]) -> dict[str, AccountHealth]:
        """From the listing (1 call per 100 accounts) and daily analytics (1 call per 200 asked)."""
        wanted = set(emails)
        found = {raw["email"]: raw async for raw in self._pages() if raw.get("email") in wanted}
        sent = await self._sent_today(sorted(found))
        return {email: health_of(raw, sent.get(email)) for email, raw in found.items()}

    async def _sent_today(self, emails: list[str]) -> dict[str, int]:
        """Campaign sends today (UTC date; Instantly's own day boundary is unconfirmed); {} when refused."""
        today = datetime.now(UTC).date().isoformat()
        out: dict[str, int] = {}
        for start in range(0, len(emails), 200):
            params = {"start_date": today, "end_date": today, "emails": emails[start : start + 200]}
            try:
                rows = await self._client.json("GET", f"{ACCOUNTS}/analytics/daily", params=params)
            except ProviderError:
                return out  # sends today are a nicety: health stands without them
            for row in rows if isinstance(rows, list) else []:
                if row.get("date") == today and isinstance(row.get("sent"), int):
                    out[str(row.get("email_account"))] = row["sent"]
        return out


def _key(instantly_key: str) -> str:
    """Our field name of a top-level Account key."""
    return {"tracking_domain_name": "tracking_domain"}.get(instantly_key, instantly_key)

"""ReachInbox accounts (reference: sequencer-apis.md §4): list, health and warmup on/off only.

ReachInbox has no public API that creates, changes or removes an IMAP/SMTP account: mailboxes get
there by its CSV import or UI (`can_create = False`; those calls raise SequencerCapabilityError
without a request). What the API gives: the listing (settings and health) and the two warmup
toggles keyed by account ids. Rate limits are undocumented: 5 requests per second is our guess.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, ClassVar

import httpx

from email_infrastructure.core.http import Limiter, Limiters, RetryPolicy, Sleep, windows
from email_infrastructure.core.logging import register_secret
from email_infrastructure.sequencers.common import SequencerClient, Unbatched, with_settings
from email_infrastructure.sequencers.provider import (
    AccountHealth,
    AccountSettings,
    HealthState,
    Login,
    RemoteAccount,
    SequencerCapabilityError,
)

DEFAULT_API_URL = "https://api.reachinbox.ai/api/v1"
PAGE_SIZE = 100
#: everything but warmup on/off: no route sets them
UNSUPPORTED: frozenset[str] = frozenset(
    {"daily_limit", "warmup_per_day", "ramp_up", "reply_rate", "tracking_domain", "signature", "sending_gap", "tags"}
)


def default_limiter(clock: Callable[[], float] = time.monotonic) -> Limiters:
    """ReachInbox documents no limit: a conservative 5 requests per second."""
    return windows((5, 1.0), clock=clock)


class _ReachInboxClient(SequencerClient):
    provider = "reachinbox"


def settings_of(raw: dict[str, Any]) -> AccountSettings:
    """Our settings from a listed account (read only but warmup)."""
    return AccountSettings(
        daily_limit=raw.get("limits"),
        warmup=raw.get("warmupEnabled"),
        tracking_domain=raw.get("trackingDomain") or None,
        signature=raw.get("signature") or None,
    )


def health_of(raw: dict[str, Any]) -> AccountHealth:
    """`isDisconnected`/`statusMessage`, `isActive`, `warmupHealthScore`, `mailsSentToday`."""
    state: HealthState
    disconnected = raw.get("isDisconnected")
    message = str(raw.get("statusMessage") or "")
    if disconnected:
        state, detail = "error", message or "disconnected"
    elif raw.get("error"):
        state, detail = "error", message or "error"
    elif raw.get("isActive") is False:
        state, detail = "warning", "inactive"
    elif disconnected is None:
        state, detail = "unknown", ""
    else:
        state, detail = "ok", ""
    warmup, score, sent = raw.get("warmupEnabled"), raw.get("warmupHealthScore"), raw.get("mailsSentToday")
    return AccountHealth(
        state=state,
        detail=detail,
        connected=None if disconnected is None else not disconnected,
        warmup=None if warmup is None else ("enabled" if warmup else "paused"),
        warmup_score=float(score) if isinstance(score, int | float) else None,
        sent_today=sent if isinstance(sent, int) else None,
    )


def _account(raw: dict[str, Any]) -> RemoteAccount:
    return RemoteAccount(str(raw["id"]), str(raw.get("email", "")), settings_of(raw), health_of(raw))


class ReachInboxProvider(Unbatched):
    """Accounts at ReachInbox (bearer key): read them, switch their warmup."""

    type: ClassVar[str] = "reachinbox"
    can_create: ClassVar[bool] = False
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
        register_secret(token)
        self.name = name
        self._client = _ReachInboxClient(
            (api_url or DEFAULT_API_URL).rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            rate_limiter=rate_limiter or default_limiter(),
            sleep=sleep,
            transport=transport,
            retry=retry,
        )
        self._client.provider = name

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _refuse(self, what: str) -> SequencerCapabilityError:
        return SequencerCapabilityError(
            f"ReachInbox's API cannot {what} an account: use its CSV import or UI", provider=self.name
        )

    async def _pages(self, **filters: Any) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            params = {**filters, "status": "all", "limit": PAGE_SIZE, "offset": offset}
            answer = await self._client.json("GET", "/account/all", params=params)
            data = answer.get("data") or {}
            rows = data.get("emailsConnected") or []
            for raw in rows:
                yield raw
            offset += len(rows)
            total = data.get("totalCount")
            if not rows or (isinstance(total, int) and offset >= total):
                return

    async def accounts(self) -> AsyncIterator[RemoteAccount]:
        """Every account, 100 per page by offset until `totalCount`."""
        async for raw in self._pages():
            yield _account(raw)

    async def find(self, email: str) -> RemoteAccount | None:
        """The list filtered by `contains=`, then the exact address."""
        async for raw in self._pages(contains=email):
            if str(raw.get("email", "")).lower() == email.lower():
                return _account(raw)
        return None

    async def create(self, login: Login, settings: AccountSettings, *, absent: bool = False) -> RemoteAccount:
        """Refused without a request: no create route."""
        raise self._refuse("create")

    async def update(self, account: RemoteAccount, settings: AccountSettings) -> RemoteAccount:
        """Warmup on/off (one POST); every other setting is in UNSUPPORTED and left alone."""
        if settings.warmup is None or settings.warmup == account.settings.warmup:
            return account
        route = "enable" if settings.warmup else "pause"
        body = {"ids": [int(account.remote_id)]}
        await self._client.request("POST", f"/account/warmup/{route}", json=body, idempotent=True)
        return with_settings(account, warmup=settings.warmup)

    async def change_password(self, account: RemoteAccount, login: Login) -> RemoteAccount:
        """Refused without a request: no route takes credentials."""
        raise self._refuse("change the password of")

    async def delete(self, account: RemoteAccount) -> None:
        """Refused without a request: no delete route."""
        raise self._refuse("delete")

    async def health(self, emails: Sequence[str]) -> dict[str, AccountHealth]:
        """From the listing: 1 call per 100 accounts."""
        wanted = {e.lower(): e for e in emails}
        out: dict[str, AccountHealth] = {}
        async for raw in self._pages():
            email = wanted.get(str(raw.get("email", "")).lower())
            if email is not None:
                out[email] = health_of(raw)
        return out

"""What the four sequencer clients share: the error reader, sliding-window limits, lost-create recovery."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from email_infrastructure.core.errors import ProviderError, ProviderServerError, ProviderTimeoutError
from email_infrastructure.core.http import Sleep, VendorClient
from email_infrastructure.sequencers.provider import AccountSettings, RemoteAccount

#: what a create whose answer was lost raises: the account may exist, so look before creating again
LOST_ANSWER = (ProviderTimeoutError, ProviderServerError)


class Limiters:
    """Several limiters at once (Instantly's 100/s and 6,000/min): a request waits on each in turn."""

    def __init__(self, *limiters: SlidingWindow) -> None:
        self.limiters = limiters

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until every limiter lets one request through."""
        for limiter in self.limiters:
            await limiter.acquire(sleep)

    def release(self) -> None:
        """A request's answer came back (VendorClient calls this after each attempt)."""
        for limiter in self.limiters:
            limiter.release()


#: seconds a window's end may be missed by through rounding
_EPSILON = 1e-6


class SlidingWindow:
    """At most `limit` requests in any `seconds`, counted as the vendor counts them: by arrival.

    A token bucket lets a burst plus its refill through, which a vendor counting a sliding window
    answers with 429. Stamping a request when it is sent is not enough either: the vendor stamps it
    when it arrives, and a request slowed on its way (a new connection, a busy host) lands later in
    the vendor's window than in ours — the one sent a window after it then arrives less than a window
    after it (3-44 429s per 1,000-account push, bench/sequencer_push.py). So a request's stamp moves
    to its answer (`release`), which comes after its arrival: no delay puts more than `limit`
    arrivals in a window. A stamp never released (a caller without answers) expires as sent.
    """

    def __init__(self, limit: int, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.seconds, self._clock = limit, seconds, clock
        self._sent: deque[float] = deque()
        self._answered: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        # a wait of `stamp + seconds - now` may land a hair short of it in floating point: it counts as passed
        for stamps in (self._sent, self._answered):
            while stamps and now - stamps[0] >= self.seconds - _EPSILON:
                stamps.popleft()

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until one request may be sent."""
        async with self._lock:
            while True:
                now = self._clock()
                self._expire(now)
                if len(self._sent) + len(self._answered) < self.limit:
                    self._sent.append(now)
                    return
                oldest = min(stamps[0] for stamps in (self._sent, self._answered) if stamps)
                await sleep(oldest + self.seconds - now)

    def release(self) -> None:
        """One answer back: a sent stamp becomes an answered one, at the time of the answer."""
        now = self._clock()
        self._expire(now)
        if self._sent:
            self._sent.popleft()
        self._answered.append(now)


class Unbatched:
    """A provider whose every change is sent at once: nothing to flush."""

    async def flush(self) -> list[str]:
        """Nothing was batched."""
        return []


def windows(*limits: tuple[int, float], clock: Callable[[], float] = time.monotonic) -> Limiters:
    """One sliding window per (requests, seconds) the vendor documents."""
    return Limiters(*(SlidingWindow(count, seconds, clock=clock) for count, seconds in limits))


def vendor_words(body: Any) -> str | None:
    """The message of a JSON error body: `message`/`error` strings, or nested under `error`/`data`."""
    if not isinstance(body, dict):
        return None
    for key in ("message", "error", "msg"):
        value = body.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, dict) and (nested := vendor_words(value)):
            return nested
    return vendor_words(body.get("data"))


class SequencerClient(VendorClient):
    """A VendorClient whose error text comes only from message fields, never from the raw body.

    A body that is not JSON (Express's HTML page) may echo what was sent (a password), so it is
    replaced by the status phrase; a JSON body gives its message, never the whole object.
    """

    def error_message(self, response: httpx.Response) -> str:
        """The vendor's message, at most 300 characters; the status phrase when there is none."""
        try:
            body = response.json()
        except ValueError:
            return response.reason_phrase
        return (vendor_words(body) or response.reason_phrase)[:300]

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """`errorCode`/`error.code` and Laravel's `errors{field: [messages]}` (top level or under `data`)."""
        try:
            body = response.json()
        except ValueError:
            return None, []
        if not isinstance(body, dict):
            return None, []
        code = body.get("errorCode")
        if isinstance(body.get("error"), dict):
            code = body["error"].get("code", code)
        errors = body.get("errors")
        if errors is None and isinstance(body.get("data"), dict):
            errors = body["data"].get("errors")
        details: list[dict[str, Any]] = []
        if isinstance(errors, dict):
            for field, messages in errors.items():
                for message in messages if isinstance(messages, list) else [messages]:
                    details.append({"field": str(field), "message": str(message)})
        return (str(code) if code is not None else None), details


async def recover_lost_create(
    error: ProviderError, find: Callable[[], Awaitable[RemoteAccount | None]]
) -> RemoteAccount:
    """After a create failed without a clear refusal: the account if the vendor made it, else the error."""
    found = await find()
    if found is None:
        raise error
    return found


def with_settings(account: RemoteAccount, **changes: Any) -> RemoteAccount:
    """`account` with some settings replaced (a change the platform applies but does not echo)."""
    current = account.settings
    settings = AccountSettings(
        **{name: changes.get(name, getattr(current, name)) for name in current.__dataclass_fields__}
    )
    return RemoteAccount(account.remote_id, account.email, settings, account.health)


def merged(declared: AccountSettings, current: AccountSettings) -> AccountSettings:
    """Declared values where given, else the current ones (what a re-create must restore)."""
    values = {}
    for name in declared.__dataclass_fields__:
        wanted = getattr(declared, name)
        values[name] = getattr(current, name) if wanted is None or (name == "tags" and not wanted) else wanted
    return AccountSettings(**values)

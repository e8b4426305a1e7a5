"""The vendor HTTP helper every API client uses: timeouts, retries, rate limits, error mapping."""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderConflictError,
    ProviderError,
    ProviderNotFoundError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    ProviderValidationError,
)
from email_infrastructure.core.logging import redact_text

_log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """A token bucket: at most `capacity` requests per `period` seconds, refilled smoothly."""

    def __init__(self, capacity: int, period: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.period = period
        self._tokens = float(capacity)
        self._clock = clock
        self._updated = clock()
        self._lock = asyncio.Lock()

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until one request may be sent."""
        async with self._lock:
            while True:
                now = self._clock()
                rate = self.capacity / self.period
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await sleep((1 - self._tokens) / rate)

    def release(self) -> None:
        """A token bucket counts a request when it is sent: an answer changes nothing."""


class Limiter(Protocol):
    """What a vendor client waits on before each request: `RateLimiter`, `windows()`, or Redis's across processes."""

    async def acquire(self, sleep: Sleep = ...) -> None:
        """Wait until one request may be sent."""
        ...

    def release(self) -> None:
        """One request's answer came back (VendorClient calls this after each attempt)."""
        ...


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


class Limiters:
    """Several windows at once (Instantly's 100/s and 6,000/min): a request waits on each in turn."""

    def __init__(self, *limiters: SlidingWindow) -> None:
        self.limiters = limiters

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until every window lets one request through."""
        for limiter in self.limiters:
            await limiter.acquire(sleep)

    def release(self) -> None:
        """A request's answer came back."""
        for limiter in self.limiters:
            limiter.release()

    @asynccontextmanager
    async def held(self, sleep: Sleep = asyncio.sleep) -> AsyncIterator[None]:
        """One request under these windows from sending to its answer (a budget beside a client's own)."""
        await self.acquire(sleep)
        try:
            yield
        finally:
            self.release()


def windows(*limits: tuple[int, float], clock: Callable[[], float] = time.monotonic) -> Limiters:
    """One sliding window per (requests, seconds) the vendor documents."""
    return Limiters(*(SlidingWindow(count, seconds, clock=clock) for count, seconds in limits))


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with jittered exponential backoff."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def backoff(self, attempt: int) -> float:
        """Full-jitter delay before retry number `attempt` (1-based)."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse Retry-After as seconds or an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


#: methods whose repetition has the effect of one request (RFC 9110 §9.2.2)
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: failures where the request never reached the vendor: safe to send again whatever it does
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class VendorClient:
    """One choke point for a vendor API: every request goes through `request()`."""

    #: name used in errors and logs
    provider = "vendor"
    #: refused credentials (403) in a row after which nothing more is sent; a 401 stops at once.
    #: One spurious 403 (Cloudflare gives some after zone creation) must not stop a run; a token
    #: refused on every zone must not cost one failing call per zone.
    auth_failures_to_stop = 3

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limiter: Limiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url, headers=dict(headers or {}), timeout=timeout, transport=transport
        )
        self.retry = retry or RetryPolicy()
        self.rate_limiter = rate_limiter
        self._sleep = sleep
        self.calls = 0
        self._auth_strikes = 0
        self._auth_stopped: ProviderAuthError | None = None

    async def __aenter__(self) -> VendorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        retry_unavailable: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send with bounded retries; map failures to errors.

        A request that never reached the vendor, and a 429, are retried whatever the method. A
        request that may have been carried out (a read timeout, a dropped connection, a 5xx) is
        retried only when sending it twice does no harm: idempotent methods, or a caller that says
        so (a PATCH that replaces an RRset). Otherwise the error stands, and the next plan reads what
        really happened instead of creating something twice. A 503 says the request was not taken;
        a caller whose vendor does not keep that promise (a create that must never run twice) passes
        `retry_unavailable=False` and looks before it sends again.
        """
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        if self._auth_stopped is not None:
            raise ProviderAuthError(
                f"{method} {path}: not sent, the credentials were refused: {self._auth_stopped}",
                provider=self.provider,
                status=self._auth_stopped.status,
                code=self._auth_stopped.code,
            )
        attempt = 0
        while True:
            attempt += 1
            if self.rate_limiter is not None:
                await self.rate_limiter.acquire(self._sleep)
            self.calls += 1
            try:
                response = await self._client.request(method, path, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                self._answered()
                sent = not isinstance(exc, _NOT_SENT)
                if attempt >= self.retry.attempts or (sent and not safe):
                    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
                    tries = (
                        f"after {attempt} attempts" if attempt > 1 else "(not retried: it may have been carried out)"
                    )
                    raise ProviderTimeoutError(
                        f"{method} {path} {kind} {tries}: {type(exc).__name__}",
                        provider=self.provider,
                    ) from None
                await self._sleep(self.retry.backoff(attempt))
                continue
            self._answered()
            retryable = (
                response.status_code == 429
                or (response.status_code == 503 and retry_unavailable)
                or (response.status_code >= 500 and safe)
            )
            if retryable:
                wait = retry_after_seconds(response)
                if attempt < self.retry.attempts and (wait is None or wait <= self.retry.max_retry_after):
                    delay = wait + random.uniform(0, 0.25) if wait is not None else self.retry.backoff(attempt)
                    _log.info("%s %s → %s; retrying in %.1fs", method, path, response.status_code, delay)
                    await self._sleep(delay)
                    continue
            if response.is_success:
                self._auth_strikes = 0
                return response
            error = self.error_for(response, method, path)
            if isinstance(error, ProviderAuthError):
                self._auth_strikes = self.auth_failures_to_stop if error.status == 401 else self._auth_strikes + 1
                if self._auth_strikes >= self.auth_failures_to_stop:
                    self._auth_stopped = error
            raise error

    def _answered(self) -> None:
        """Tell the limiter an answer came back (a sliding window counts requests by it)."""
        if self.rate_limiter is not None:
            self.rate_limiter.release()

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """`request()` and decode the JSON body; a body that is not JSON is a ProviderError."""
        response = await self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{method} {path}: HTTP {response.status_code} but the body is not JSON", provider=self.provider
            ) from None

    def error_message(self, response: httpx.Response) -> str:
        """The vendor's own words for an error; subclasses read their envelope."""
        try:
            body = response.json()
        except ValueError:
            return response.text.strip()[:200] or response.reason_phrase
        if isinstance(body, dict):
            for key in ("error", "message", "msg", "detail"):
                if isinstance(body.get(key), str):
                    return str(body[key])
        return response.reason_phrase

    def error_details(self, response: httpx.Response) -> tuple[str | None, list[dict[str, Any]]]:
        """The vendor's error code and structured errors; subclasses read their envelope."""
        return None, []

    def error_for(self, response: httpx.Response, method: str, path: str) -> ProviderError:
        """Map an HTTP error to our errors hierarchy, with the vendor's code and details as fields."""
        status = response.status_code
        message = redact_text(f"{method} {path}: HTTP {status}: {self.error_message(response)}")
        code, details = self.error_details(response)
        kwargs: dict[str, Any] = {"provider": self.provider, "status": status, "code": code, "details": details}
        if status in (401, 403):
            return ProviderAuthError(message, **kwargs)
        if status == 404:
            return ProviderNotFoundError(message, **kwargs)
        if status == 409:
            return ProviderConflictError(message, **kwargs)
        if status == 429:
            return ProviderRateLimitError(message, retry_after=retry_after_seconds(response), **kwargs)
        if status >= 500:
            return ProviderServerError(message, **kwargs)
        if status in (400, 422):
            return ProviderValidationError(message, **kwargs)
        return ProviderError(message, **kwargs)

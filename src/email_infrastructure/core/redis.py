"""The shared Redis of a scaled deployment: one client per process, every key under one prefix."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from email_infrastructure.core.errors import ConfigError, StorageError

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from email_infrastructure.core.settings import Settings


def redis_configured(settings: Settings) -> bool:
    """True when REDIS_URL (or EMAIL_INFRA_REDIS_URL) is set: queues, caches and limits are shared."""
    return bool(settings.redis_url)


def redis_client(settings: Settings) -> Redis:
    """A client for the configured Redis (connections are opened on first use)."""
    from redis.asyncio import Redis

    if not settings.redis_url:
        raise ConfigError("REDIS_URL is not set (the single-process default needs no Redis)")
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(
            f"REDIS_URL must start with redis://, rediss:// or unix:// (got {settings.redis_url.split(':', 1)[0]!r})"
        )
    return Redis.from_url(settings.redis_url)


class RedisUnavailableError(StorageError):
    """Redis did not answer within the bounded tries (exit 2; 503 over the API)."""


def redis_location(url: str) -> str:
    """The URL without its user and password: what messages may show."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def wait_for_redis(settings: Settings, *, attempts: int | None = None, delay: float | None = None) -> None:
    """Return once Redis answers a PING; after `redis_connect_attempts` failed tries, with pauses of
    `redis_retry_delay` doubling up to 30 s, RedisUnavailableError naming where (no password)."""
    tries = attempts or settings.redis_connect_attempts
    pause = delay or settings.redis_retry_delay
    client = redis_client(settings)
    problem = ""
    try:
        for attempt in range(1, tries + 1):
            try:
                # the asyncio client's ping is typed for both clients (bool | Awaitable[bool])
                await asyncio.wait_for(cast(Awaitable[bool], client.ping()), 5)
                return
            except Exception as exc:  # redis-py's errors, OSError, a timeout: each is a failed try
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt < tries:
                await asyncio.sleep(min(pause * 2 ** (attempt - 1), 30))
    finally:
        await client.aclose()
    where = redis_location(settings.redis_url or "")
    raise RedisUnavailableError(
        f"Redis at {where} does not answer after {tries} tries ({problem.replace(settings.redis_url or '', where)}); "
        "start it, or fix REDIS_URL"
    )


def redis_key(settings: Settings, *parts: str) -> str:
    """`<prefix>:<part>:<part>`: every key we write, so fleets (and tests) can share one Redis."""
    return ":".join([settings.redis_prefix, *parts])


class SharedRateLimiter:
    """`RateLimiter`'s interface over Redis: at most `capacity` requests per `period` seconds for
    every process using the same `name` (a Cloudflare token's budget is per account).

    A moving window from the `limits` library (each hit is a timestamp in one Redis list, checked
    and added atomically), so bursts at a window edge cannot exceed the vendor's own count.
    """

    def __init__(self, redis_url: str, prefix: str, name: str, capacity: int, period: float) -> None:
        from limits import RateLimitItemPerSecond
        from limits.aio.storage import RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self.capacity = capacity
        self.period = period
        self.name = name
        # kept here: the strategy holds its storage through a weak proxy (alisaifee/limits#166)
        self._storage = RedisStorage("async+" + redis_url, implementation="redispy", key_prefix=f"{prefix}:limits")
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._item = RateLimitItemPerSecond(capacity, max(1, round(period)))

    async def acquire(self, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Wait until one request may be sent (by any process)."""
        while not await self._limiter.hit(self._item, self.name):
            stats = await self._limiter.get_window_stats(self._item, self.name)
            await sleep(min(self.period, max(0.05, stats.reset_time - time.time())))

    def release(self) -> None:
        """Counted when sent, in Redis: an answer changes nothing."""

"""Rate limits per API key and route with `limits` (async strategies): in memory, or Redis when REDIS_URL is set.

A moving window: never more than N hits in any window, so no burst at a window's edge. Each
response carries RateLimit-Limit/Remaining/Reset; a 429 adds Retry-After.
"""

from __future__ import annotations

import math
import time
from typing import Literal

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import ConnectionPool

from email_infrastructure.api.errors import RateLimitedError
from email_infrastructure.core.settings import Settings

Category = Literal["read", "write"]


def _redis_uri(url: str) -> str:
    """`redis://…` as the async storage's URI (`async+redis://…`)."""
    return url if url.startswith("async+") else f"async+{url}"


class RateLimiter:
    """The limits of one API process; processes sharing a Redis share the counters."""

    def __init__(self, settings: Settings) -> None:
        self.items: dict[Category, RateLimitItem] = {
            "read": parse(settings.api_rate_limit_read),
            "write": parse(settings.api_rate_limit_write),
        }
        #: rejected API keys per client address (a valid key is never counted, so never refused)
        self.auth_failures = parse(settings.api_auth_failure_limit)
        # Strategies hold the storage through a weak proxy: this object keeps the strong reference.
        self.storage: Storage
        self._pool: ConnectionPool | None = None
        if settings.redis_url:
            # Our own pool, so that shutdown can close its connections.
            self._pool = ConnectionPool.from_url(settings.redis_url)
            self.storage = RedisStorage(
                _redis_uri(settings.redis_url),
                implementation="redispy",
                key_prefix=settings.api_rate_limit_prefix,
                connection_pool=self._pool,  # type: ignore[arg-type]  # limits types its options as scalars; redis-py takes a pool
            )
            self.backend = "redis"
        else:
            self.storage = MemoryStorage()
            self.backend = "memory"
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, category: Category, key_name: str, route: str) -> dict[str, str]:
        """Count one request; the RateLimit-* headers, or RateLimitedError with Retry-After too."""
        item = self.items[category]
        allowed = await self.strategy.hit(item, key_name, route)
        stats = await self.strategy.get_window_stats(item, key_name, route)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Limit": str(item.amount),
            "RateLimit-Remaining": str(max(0, stats.remaining)),
            "RateLimit-Reset": str(reset),
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, reset))
            raise RateLimitedError(
                f"rate limit of {item.amount} per {item.multiples} {item.GRANULARITY.name} reached for this key "
                f"on {route}; retry in {max(1, reset)} s",
                headers,
            )
        return headers

    async def auth_failed(self, client: str) -> RateLimitedError | None:
        """Count a rejected API key of `client` (an address); the 429 to answer once it has too many.

        Keys are random enough that guessing one is hopeless; the throttle bounds what a client
        sending bad keys costs and tells a misconfigured one to stop.
        """
        item = self.auth_failures
        if await self.strategy.hit(item, "auth-failures", client):
            return None
        stats = await self.strategy.get_window_stats(item, "auth-failures", client)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        return RateLimitedError(
            f"too many rejected API keys from this address ({item.amount} per {item.multiples} "
            f"{item.GRANULARITY.name}); retry in {retry} s",
            {"Retry-After": str(retry), "RateLimit-Limit": str(item.amount), "RateLimit-Remaining": "0",
             "RateLimit-Reset": str(retry)},
        )  # fmt: skip

    async def close(self) -> None:
        """Release the Redis connections (memory needs nothing)."""
        if self._pool is not None:
            await self._pool.aclose()

"""A two-tier cache: a small in-memory LRU in front of Redis, shared by every process of a deployment.

Without Redis it is the in-memory tier alone, so the single-process default needs nothing. Values
are strings (callers encode JSON): a cache shared across processes must not unpickle.

A process that has Redis calls `install(settings)` once (the worker and scheduler do at start);
components then ask `shared(namespace)` for their cache without being handed a client — the DNS
providers and the resolver are built deep inside the reconcile graph and the audit engine.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from email_infrastructure.core.redis import SharedRateLimiter, redis_client, redis_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from email_infrastructure.core.settings import Settings


def _milliseconds(ttl: float | None) -> int | None:
    """A TTL in seconds as Redis's PX (None: no expiry)."""
    return int(ttl * 1000) if ttl is not None else None


class TwoTierCache:
    """`get`/`set`/`delete` of string values with a TTL; memory first, then Redis (when given)."""

    def __init__(self, namespace: str, *, redis: Redis | None = None, prefix: str = "", local_size: int = 10_000):
        self.namespace = namespace
        self.redis = redis
        self._prefix = f"{prefix}:cache:{namespace}:" if prefix else f"cache:{namespace}:"
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._local_size = local_size
        self.hits_local = 0
        self.hits_shared = 0
        self.misses = 0
        self._pending: list[tuple[str, str, float | None]] = []

    def _remember(self, key: str, value: str, ttl: float | None) -> None:
        expires = time.monotonic() + ttl if ttl is not None else float("inf")
        self._local[key] = (expires, value)
        self._local.move_to_end(key)
        while len(self._local) > self._local_size:
            self._local.popitem(last=False)

    async def get(self, key: str) -> str | None:
        """The value, from memory, else from Redis (then kept in memory for the rest of its TTL)."""
        local = self._local.get(key)
        if local is not None:
            if local[0] > time.monotonic():
                self._local.move_to_end(key)
                self.hits_local += 1
                return local[1]
            del self._local[key]
        if self.redis is not None:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.get(self._prefix + key)
                pipe.pttl(self._prefix + key)
                value, ttl_ms = await pipe.execute()
            if value is not None:
                self.hits_shared += 1
                text = value.decode() if isinstance(value, bytes) else str(value)
                self._remember(key, text, ttl_ms / 1000 if ttl_ms and ttl_ms > 0 else None)
                return text
        self.misses += 1
        return None

    async def set(self, key: str, value: str, ttl: float | None = None) -> None:
        """Store in both tiers; `ttl` seconds (None: until deleted). A TTL under a millisecond stores nothing."""
        if ttl is not None and ttl < 0.001:
            return
        self._remember(key, value, ttl)
        if self.redis is not None:
            await self.redis.set(self._prefix + key, value, px=_milliseconds(ttl))

    def set_later(self, key: str, value: str, ttl: float | None = None) -> int:
        """Store in memory now and in Redis at the next `flush`; the number of writes waiting.

        For hot paths (a resolver's answers): a round trip per answer would cost more than the
        local DNS query it saves another process.
        """
        if ttl is not None and ttl < 0.001:
            return len(self._pending)
        self._remember(key, value, ttl)
        if self.redis is not None:
            self._pending.append((key, value, ttl))
        return len(self._pending)

    async def flush(self) -> None:
        """Send the writes `set_later` kept, in one pipeline."""
        pending, self._pending = self._pending, []
        if not pending or self.redis is None:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, value, ttl in pending:
                pipe.set(self._prefix + key, value, px=_milliseconds(ttl))
            await pipe.execute()

    async def delete(self, key: str) -> None:
        """Forget the key in both tiers (a value found stale)."""
        self._local.pop(key, None)
        if self.redis is not None:
            await self.redis.delete(self._prefix + key)


@dataclass
class _Shared:
    redis: Redis
    prefix: str
    url: str
    caches: dict[str, TwoTierCache] = field(default_factory=dict)
    limiters: dict[str, SharedRateLimiter] = field(default_factory=dict)
    #: namespaces kept per process although Redis is there (settings.shared_dns_cache)
    local_only: frozenset[str] = frozenset()


_state: list[_Shared] = []
#: the resolver's namespace: answers of the audits' DNS server
DNS_ANSWERS = "dns-answers"


def install(settings: Settings) -> None:
    """Back this process's shared caches with the configured Redis (no-op without REDIS_URL)."""
    if settings.redis_url:
        local_only = frozenset() if settings.shared_dns_cache else frozenset({DNS_ANSWERS})
        _state[:] = [_Shared(redis_client(settings), redis_key(settings), settings.redis_url, local_only=local_only)]


async def uninstall() -> None:
    """Close the shared client; components fall back to their own caches (tests, shutdown)."""
    if _state:
        await _state.pop().redis.aclose()


def shared(namespace: str) -> TwoTierCache | None:
    """This process's cache of a namespace when Redis is installed, else None (keep your own)."""
    if not _state or namespace in _state[0].local_only:
        return None
    state = _state[0]
    cache = state.caches.get(namespace)
    if cache is None:
        cache = state.caches[namespace] = TwoTierCache(namespace, redis=state.redis, prefix=state.prefix)
    return cache


def shared_limiter(name: str, capacity: int, period: float) -> SharedRateLimiter | None:
    """A rate limiter every process of the deployment shares, when Redis is installed, else None."""
    if not _state:
        return None
    limiters = _state[0].limiters
    if name not in limiters:
        limiters[name] = SharedRateLimiter(_state[0].url, _state[0].prefix, name, capacity, period)
    return limiters[name]

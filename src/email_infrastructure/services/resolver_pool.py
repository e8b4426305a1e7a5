"""The DNS resolvers of one App, shared by its concurrent scheduled runs (a worker's jobs)."""

from __future__ import annotations

import contextlib
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Sequence

from email_infrastructure.monitoring.resolver import Resolver

Key = tuple[tuple[str, ...], float]


class ResolverPool:
    """Resolvers by (nameservers, timeout), kept between runs; at most `size` kept, none closed while leased.

    A worker used to open a resolver per batch of 50 domains: every batch asked again what the
    one before had just been told (the ESP include chains, MX hosts and policies the fleet
    shares), and opened a socket. One resolver per process keeps those answers for their TTL in
    its bounded LRU cache (`Resolver.cache_size`), as the audit CLI's single resolver does.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._resolvers: OrderedDict[Key, Resolver] = OrderedDict()
        self._leases: Counter[Key] = Counter()

    @contextlib.asynccontextmanager
    async def lease(self, nameservers: Sequence[str], timeout: float) -> AsyncIterator[Resolver]:
        """The shared resolver of these settings (made on first use); its shared-cache writes flushed after."""
        key = (tuple(nameservers), float(timeout))
        resolver = self._resolvers.pop(key, None) or Resolver.from_strings(list(nameservers), timeout=timeout)
        self._resolvers[key] = resolver  # most recently used last
        self._leases[key] += 1
        try:
            yield resolver
        finally:
            self._leases[key] -= 1
            await resolver.flush()
            await self._trim()

    async def _trim(self) -> None:
        """Close the least recently used resolvers nobody holds, down to `size`."""
        for key in list(self._resolvers):
            if len(self._resolvers) <= self.size:
                return
            if not self._leases[key]:
                del self._leases[key]
                await self._resolvers.pop(key).close()

    def __len__(self) -> int:
        return len(self._resolvers)

    async def close(self) -> None:
        """Close every resolver (the App is closing: no run holds one)."""
        resolvers = list(self._resolvers.values())
        self._resolvers.clear()
        self._leases.clear()
        for resolver in resolvers:
            await resolver.close()

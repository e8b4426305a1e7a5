"""A proposed client budget for Instantly, measured by bench/sequencer_push.py beside today's (never shipped).

Today's `SlidingWindow` stamps a request when it is sent; Instantly stamps it when it arrives. A request
slowed on its way (a new connection, a busy host, the network) lands later in the vendor's window than in
ours, so the request sent exactly one window after it can arrive less than a window after it: a 429. Here a
request holds its slot from the moment it is sent until one window after its answer came back; its arrival
lies between the two, so no delay puts more than `limit` arrivals in any window (other clients of the same
workspace aside). The cost: each slot is held one round trip longer (100/s becomes 100 per 1 s + latency).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from email_infrastructure.core.http import Sleep
from email_infrastructure.sequencers import instantly


class HeldWindow:
    """At most `limit` requests in flight or answered less than `seconds` ago."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.in_flight = 0
        self.answered: deque[float] = deque()

    def wait(self) -> float | None:
        """Seconds until a slot frees (0 when one is free now, None when only an answer can free one)."""
        now = time.monotonic()
        while self.answered and now - self.answered[0] >= self.seconds:
            self.answered.popleft()
        if self.in_flight + len(self.answered) < self.limit:
            return 0.0
        return self.answered[0] + self.seconds - now if self.answered else None

    def release(self) -> None:
        """A request's answer came back (or it failed): its slot stays held one more window."""
        self.in_flight -= 1
        self.answered.append(time.monotonic())


class HeldWindows:
    """Instantly's two windows (100/s, 6,000/min), a slot taken in both at once."""

    def __init__(self, *limits: tuple[int, float]) -> None:
        self.windows = [HeldWindow(n, seconds) for n, seconds in limits]
        self._lock = asyncio.Lock()

    async def acquire(self, sleep: Sleep = asyncio.sleep) -> None:
        """Wait until every window has a free slot, then take them."""
        async with self._lock:
            while True:
                waits = [w.wait() for w in self.windows]
                if all(w == 0.0 for w in waits):
                    for window in self.windows:
                        window.in_flight += 1
                    return
                # a window full of requests still in flight frees on an answer: look again shortly
                await sleep(max(w if w is not None else 0.005 for w in waits))

    def release(self) -> None:
        """One answer (or failure) back."""
        for window in self.windows:
            window.release()


class _Releasing:
    """An httpx client whose every request gives its slot back when it ends."""

    def __init__(self, client: httpx.AsyncClient, budget: HeldWindows) -> None:
        self._client, self._budget = client, budget

    async def request(self, *args: Any, **kwargs: Any) -> httpx.Response:
        try:
            return await self._client.request(*args, **kwargs)
        finally:
            self._budget.release()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@contextmanager
def installed(limits: tuple[tuple[int, float], ...]) -> Iterator[None]:
    """Instantly providers built inside get the held budget (VendorClient acquires once per attempt; the
    wrapped httpx client releases once per attempt)."""
    original_limiter, original_client = instantly.default_limiter, instantly._InstantlyClient  # patched for one run

    class Held(original_client):  # type: ignore[misc,valid-type]  # a subclass of the class found at run time
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if isinstance(self.rate_limiter, HeldWindows):
                self._client = _Releasing(self._client, self.rate_limiter)

    instantly.default_limiter = lambda clock=time.monotonic: HeldWindows(*limits)  # type: ignore[assignment,misc,return-value]  # clock unused: held slots end on real answers
    instantly._InstantlyClient = Held  # type: ignore[misc]  # patched for one run
    try:
        yield
    finally:
        instantly.default_limiter = original_limiter  # type: ignore[assignment]  # mypy saw the lambda's type above
        instantly._InstantlyClient = original_client  # type: ignore[misc]  # restored

"""What the four sequencer fakes share: call log, injectable clock, sliding-window limits, faults.

Each fake (instantly.py, smartlead.py, emailbison.py, reachinbox.py) keeps its own routes, auth,
envelopes and error bodies (../shared/reference/sequencer-apis.md); this module only runs the
request pipeline: log → auth → plan → rate limit → random faults → route → lost-answer fault.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.fakes.http_server import Drop, FakeServer

Response = tuple[int, dict[str, str], bytes]


class ApiError(Exception):
    """An error answer: status, the vendor's whole JSON body (or text), extra headers."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


class LostAnswer(Exception):
    """Raised by a route after a create was stored: the client never learns it succeeded."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass
class ManualClock:
    """Seconds that move only when a test (or a client's injected sleep) advances them."""

    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass (usable as a client's `sleep`)."""
        self.now += seconds


@dataclass(frozen=True)
class Call:
    """One request as the fake saw it (path decoded): never the query string, so never a key or a secret."""

    method: str
    path: str
    status: int
    #: the answer never reached the client: the connection was dropped (status is then 0)
    lost: bool = False


@dataclass
class Faults:
    """Fault injection; random draws come from one RNG seeded with `seed` (reproducible runs)."""

    seed: int = 0
    #: fraction of requests answered with `error_status` before anything happens
    error_rate: float = 0.0
    error_status: int = 500
    #: fraction of requests answered 429 although under the limit
    throttle_rate: float = 0.0
    #: fraction of creates answered with `error_status` before anything is stored
    create_error_rate: float = 0.0
    #: the next N creates store the account, then the answer is lost
    lose_next_creates: int = 0
    #: how it is lost: "drop" closes the connection unanswered, "500" answers 500
    lost_as: str = "drop"
    #: explicit statuses for the next requests, in order (before routing; nothing changes)
    next_statuses: list[int] = field(default_factory=list)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def reseed(self, seed: int) -> None:
        """Restart the random draws from `seed`."""
        self.seed, self.rng = seed, random.Random(seed)


class Limiter:
    """Sliding windows of (limit, seconds) per key, on an injectable clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.stamps: dict[tuple[str, float], deque[float]] = {}

    def hit(self, key: str, windows: tuple[tuple[int, float], ...]) -> tuple[float | None, int, int, float]:
        """Count one request: (seconds to wait if refused else None, limit, remaining, reset in) of the tightest window."""
        now = self.clock()
        wait: float | None = None
        tightest, remaining, reset = 0, 1 << 30, 0.0
        queues = []
        for limit, seconds in windows:
            stamps = self.stamps.setdefault((key, seconds), deque())
            while stamps and now - stamps[0] >= seconds:
                stamps.popleft()
            queues.append(stamps)
            if len(stamps) >= limit:
                wait = max(wait or 0.0, stamps[0] + seconds - now)
            left = limit - len(stamps) - 1
            if left < remaining:
                tightest, remaining, reset = limit, left, (stamps[0] + seconds - now) if stamps else seconds
        if wait is None:
            for stamps in queues:
                stamps.append(now)
        return wait, tightest, max(0, remaining), reset


@dataclass
class FakeSequencer:
    """The request pipeline; subclasses supply credentials, routes and the vendor's answers."""

    tokens: set[str] = field(default_factory=lambda: {"test-token"})
    #: the workspace/plan has no API access (Instantly 402, Smartlead 403)
    unpaid: bool = False
    #: (limit, seconds) windows counted per `rate_key`; () = unlimited
    limits: tuple[tuple[int, float], ...] = ()
    clock: ManualClock = field(default_factory=ManualClock)
    faults: Faults = field(default_factory=Faults)
    log: list[Call] = field(default_factory=list)
    url: str = ""
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _limiter: Limiter | None = None

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return sorted(self.tokens)[0]

    def calls(self, method: str | None = None, contains: str = "") -> list[Call]:
        """Logged calls, optionally of one method and with `contains` in the path."""
        return [c for c in self.log if (method is None or c.method == method) and contains in c.path]

    # hooks for subclasses ---------------------------------------------------------------------
    def credential(self, headers: dict[str, str], query: dict[str, list[str]]) -> str | None:
        """The key as this vendor carries it."""
        raise NotImplementedError

    def unauthorized(self, key: str | None) -> ApiError:
        """The vendor's refusal of a missing or bad key."""
        raise NotImplementedError

    def payment_required(self) -> ApiError:
        """The vendor's refusal of a plan without API access."""
        raise NotImplementedError

    def rate_limited(self, retry_after: float) -> ApiError:
        """The vendor's 429."""
        raise NotImplementedError

    def server_error(self, status: int) -> ApiError:
        """The vendor's 5xx."""
        return ApiError(status, {"message": "Server Error"})

    def rate_key(self, key: str) -> str:
        """What the limits count by (per key unless the vendor counts per workspace)."""
        return key

    def limit_headers(self, method: str, limit: int, remaining: int, reset: float) -> dict[str, str]:
        """Rate-limit headers the vendor puts on answers under the limit."""
        return {}

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any, key: str) -> tuple[int, Any]:
        """(status, JSON payload) for a request; raise ApiError or LostAnswer."""
        raise NotImplementedError

    # plumbing ---------------------------------------------------------------------------------
    def lose_create(self) -> None:
        """Call right after a create stored its account: applies the lost-answer fault."""
        if self.faults.lose_next_creates > 0:
            self.faults.lose_next_creates -= 1
            raise LostAnswer(500)

    def create_fault(self) -> None:
        """Call at the start of a create: the random create-only 5xx (nothing stored)."""
        if self.faults.create_error_rate and self.faults.rng.random() < self.faults.create_error_rate:
            raise self.server_error(self.faults.error_status)

    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        shown = unquote(path)  # the log shows `a@x.com` however the client escaped it
        with self._lock:
            try:
                status, out, payload = self._answer(method, path, query, headers, body)
            except LostAnswer as lost:
                if self.faults.lost_as == "drop":
                    self.log.append(Call(method, shown, 0, lost=True))
                    raise Drop from None
                status, out, payload = self._wire(self.server_error(lost.status))
            self.log.append(Call(method, shown, status))
        return status, out, payload

    def _answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        try:
            key = self.credential(headers, query)
            if key is None or key not in self.tokens:
                raise self.unauthorized(key)
            if self.unpaid:
                raise self.payment_required()
            if self._limiter is None:
                self._limiter = Limiter(lambda: self.clock())
            wait, limit, remaining, reset = self._limiter.hit(self.rate_key(key), self.limits)
            if wait is not None:
                raise self.rate_limited(wait)
            if self.faults.throttle_rate and self.faults.rng.random() < self.faults.throttle_rate:
                raise self.rate_limited(1.0)
            if self.faults.next_statuses:
                status = self.faults.next_statuses.pop(0)
                raise self.rate_limited(1.0) if status == 429 else self.server_error(status)
            if self.faults.error_rate and self.faults.rng.random() < self.faults.error_rate:
                raise self.server_error(self.faults.error_status)
            self.check_body(method, headers, body)
            try:
                data = json.loads(body) if body else None
            except ValueError:
                raise self.bad_json() from None
            status, payload = self.route(method, path, query, data, key)
        except ApiError as exc:
            return self._wire(exc)
        extra = self.limit_headers(method, limit, remaining, reset) if self.limits else {}
        return self._wire(ApiError(status, payload, extra))

    def check_body(self, method: str, headers: dict[str, str], body: bytes) -> None:
        """Refuse a body before parsing it (raise ApiError); the default accepts any."""

    def bad_json(self) -> ApiError:
        """The vendor's answer to a body that is not JSON."""
        return ApiError(400, {"message": "Malformed JSON"})

    @staticmethod
    def _wire(answer: ApiError) -> Response:
        if isinstance(answer.body, str):
            return answer.status, {"Content-Type": "text/plain", **answer.headers}, answer.body.encode()
        headers = {"Content-Type": "application/json", **answer.headers}
        return answer.status, headers, json.dumps(answer.body).encode()

    def serve(self) -> FakeServer:
        """A loopback server for this fake (enter it to start)."""
        return FakeServer(self)


def ceil_seconds(seconds: float) -> int:
    """Whole seconds to wait, at least 1 (what a Retry-After header carries)."""
    return max(1, int(-(-seconds // 1)))


def integer(query: dict[str, list[str]], name: str, default: int) -> int | None:
    """An integer query parameter, `default` when absent, None when not an integer."""
    raw = query.get(name, [str(default)])[0]
    try:
        return int(raw)
    except ValueError:
        return None

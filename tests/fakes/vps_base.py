"""What the three VPS fakes share: tokens, fault hooks, the action lifecycle, a loopback server.

Each fake (hetzner.py, digitalocean.py, vultr.py) renders these in its own provider's shapes:
routes, envelopes, status codes and error bodies stay per fake.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.http_server import FakeServer

Response = tuple[int, dict[str, str], bytes]


class ApiError(Exception):
    """An error answer: HTTP status, the provider's code and message, optional extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}
        self.details = details or {}


@dataclass
class Action:
    """An asynchronous provider action: `running` for `polls` reads, then success or error."""

    id: int
    command: str
    resource_id: int | str
    polls: int
    #: `success`, `error`, or `never` (stays running)
    outcome: str = "success"
    error_code: str = "action_failed"
    error_message: str = "Action failed"
    on_success: Callable[[], None] | None = None
    status: str = "running"
    progress: int = 0
    reads: int = 0

    def advance(self) -> None:
        """One poll: count down, then reach the terminal state (running the side effect once)."""
        if self.status != "running":
            return
        self.reads += 1
        if self.outcome == "never" or self.reads < self.polls:
            self.progress = min(90, self.progress + 30)
            return
        self.progress = 100
        self.status = "success" if self.outcome == "success" else "error"
        if self.status == "success" and self.on_success is not None:
            self.on_success()


@dataclass
class FakeVps:
    """State, fault hooks and plumbing every VPS fake shares; subclasses implement `route`."""

    tokens: set[str] = field(default_factory=lambda: {"test-token"})
    #: reads of an action before it finishes (the lifecycle running → success/error)
    action_polls: int = 2
    #: servers/droplets/instances by id: the store tests assert on
    servers: dict[Any, dict[str, Any]] = field(default_factory=dict)
    actions: dict[int, Action] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)
    url: str = ""
    # fault hooks ------------------------------------------------------------------------------
    #: answer the next N requests with the provider's rate-limit response
    rate_limit_next: int = 0
    #: the next create stores the server, then answers this 5xx status
    fail_create_after_creating: int | None = None
    #: the next create answers this 5xx status and stores nothing
    fail_create_without_creating: int | None = None
    #: the next action ends in error (with this code)
    fail_next_action: str | None = None
    #: actions started from now on never finish
    actions_never_finish: bool = False
    #: set when a client polls an action that never finishes (it has the create's answer and waits on it);
    #: the Hetzner fake sets it, the kill test's moment
    unfinished_polled: threading.Event = field(default_factory=threading.Event)
    #: creates are refused: the account's server limit is reached
    quota_exceeded: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def token(self) -> str:
        """A token the fake accepts."""
        return next(iter(sorted(self.tokens)))

    def next_id(self) -> int:
        """A fresh numeric id."""
        return next(self._ids)

    def start_action(
        self, command: str, resource_id: int | str, on_success: Callable[[], None] | None = None
    ) -> Action:
        """Register an action, applying the action fault hooks."""
        outcome = "success"
        error_code = "action_failed"
        if self.actions_never_finish:
            outcome = "never"
        elif self.fail_next_action is not None:
            outcome, error_code, self.fail_next_action = "error", self.fail_next_action, None
        action = Action(
            self.next_id(), command, resource_id, self.action_polls, outcome, error_code, on_success=on_success
        )
        self.actions[action.id] = action
        return action

    def create_fault(self) -> int | None:
        """The 5xx the next create answers without creating anything (consumed), if set."""
        status, self.fail_create_without_creating = self.fail_create_without_creating, None
        return status

    def ours(self) -> list[dict[str, Any]]:
        """Stored servers (a list, for assertions)."""
        return list(self.servers.values())

    # plumbing ---------------------------------------------------------------------------------
    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        with self._lock:
            self.calls[f"{method} {path}"] += 1
            try:
                token = headers.get("authorization", "").removeprefix("Bearer ").strip()
                if token not in self.tokens:
                    raise self.unauthorized()
                if self.rate_limit_next > 0:
                    self.rate_limit_next -= 1
                    raise self.rate_limited()
                data = json.loads(body) if body else {}
                status, payload = self.route(method, path, query, data)
            except ApiError as exc:
                return self.error_response(exc)
        return self.success_response(status, payload)

    def route(self, method: str, path: str, query: dict[str, list[str]], data: Any) -> tuple[int, Any]:
        """(status, JSON payload or None) for a request; raise ApiError for an error answer."""
        raise NotImplementedError

    def unauthorized(self) -> ApiError:
        """The provider's answer to a refused token."""
        raise NotImplementedError

    def rate_limited(self) -> ApiError:
        """The provider's rate-limit answer."""
        raise NotImplementedError

    def error_response(self, exc: ApiError) -> Response:
        """Render an error in the provider's envelope."""
        raise NotImplementedError

    def success_response(self, status: int, payload: Any) -> Response:
        """Render a success (204 has no body)."""
        if payload is None:
            return status, {}, b""
        return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()

    def serve(self) -> FakeServer:
        """A loopback server for this fake (enter it to start)."""
        return FakeServer(self)


def page(
    items: list[Any], query: dict[str, list[str]], default_per_page: int, max_per_page: int
) -> tuple[list[Any], int, int]:
    """Slice `items` by `page`/`per_page` (1-based); returns (slice, page, per_page)."""
    number = max(1, int(query.get("page", ["1"])[0]))
    per_page = min(max_per_page, max(1, int(query.get("per_page", [str(default_per_page)])[0])))
    start = (number - 1) * per_page
    return items[start : start + per_page], number, per_page

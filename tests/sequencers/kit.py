"""Helpers for the provider tests: build a provider on a fake's clock, record request bodies, scan logs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx

from email_infrastructure.core.http import Limiter, RetryPolicy
from email_infrastructure.core.logging import RedactingFilter
from email_infrastructure.sequencers.provider import Login
from tests.fakes.sequencer_base import FakeSequencer

PASSWORD = "Pw-unique-7f3c9a1e"  # a value grep-able in every output


def login(email: str = "jon@a.example", password: str = PASSWORD) -> Login:
    """A mailbox's login on a fake mail host."""
    return Login(email, "Jon", "Doe", email, password, "mail.a.example")


class Recorder(httpx.AsyncHTTPTransport):
    """A real transport that keeps (method, path, JSON body) of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Record, then send."""
        body = json.loads(request.content) if request.content else None
        self.sent.append((request.method, request.url.path, body))
        return await super().handle_async_request(request)

    def bodies(self, method: str, contains: str = "") -> list[Any]:
        """The bodies of one method's requests whose path contains `contains`."""
        return [b for m, p, b in self.sent if m == method and contains in p]


def build(
    cls: Callable[..., Any],
    limiter: Callable[[Callable[[], float]], Limiter],
    fake: FakeSequencer,
    *,
    attempts: int = 4,
    **options: Any,
) -> Any:
    """`cls` against `fake`: its limiter and every wait on the fake's manual clock."""

    async def sleep(seconds: float) -> None:
        fake.clock.advance(seconds)

    return cls(
        fake.token,
        name="test",
        api_url=fake.url,
        rate_limiter=limiter(fake.clock),
        sleep=sleep,
        retry=RetryPolicy(attempts=attempts),
        **options,
    )


def redacted_records(records: list[logging.LogRecord]) -> list[str]:
    """Every record as production's log handler writes it (through the redaction filter)."""
    scrub = RedactingFilter()
    out = []
    for record in records:
        scrub.filter(record)
        out.append(record.getMessage() + (record.exc_text or ""))
    return out

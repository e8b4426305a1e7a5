"""Polling with a deadline, shared by the VPS providers (actions, servers coming up)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from email_infrastructure.vps.provider import VpsActionError

T = TypeVar("T")


async def poll_until(
    fetch: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
    what: str,
    provider: str,
    command: str,
) -> T:
    """Call `fetch` every `interval` seconds until `done(result)`; VpsActionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = await fetch()
        if done(result):
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise VpsActionError(
                f"{what} did not finish within {timeout:g}s",
                provider=provider,
                code="timeout",
                details=[{"command": command, "code": "timeout"}],
            )
        await asyncio.sleep(min(interval, remaining))


def action_failed(provider: str, command: str, code: str | None, message: str) -> VpsActionError:
    """The error for an action that ended in error, carrying its command and the provider's code."""
    return VpsActionError(
        f"action {command} failed: {code or 'error'}: {message}",
        provider=provider,
        code=code,
        details=[{"command": command, "code": code}],
    )

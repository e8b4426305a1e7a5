"""What the VPS providers share: polling with a deadline, action errors, one server per inventory name."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from email_infrastructure.core.errors import ProviderConflictError, ProviderServerError, ProviderTimeoutError
from email_infrastructure.vps.provider import VpsActionError, VpsServer

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


async def create_once(
    send: Callable[[], Awaitable[T]],
    look: Callable[[], Awaitable[VpsServer | None]],
    *,
    attempts: int,
    backoff: float,
) -> T | VpsServer:
    """Send a create; after a 5xx or a lost answer, look for the server before anything is resent.

    Returns the create's answer, or the server the look-up found (the create did happen). Only a
    503 or an unanswered request is sent again, and only when the look-up found nothing: a server
    is never created twice.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await send()
        except (ProviderServerError, ProviderTimeoutError) as exc:
            found = await look()
            if found is not None:
                return found
            if attempt >= attempts or not (exc.status == 503 or isinstance(exc, ProviderTimeoutError)):
                raise
            await asyncio.sleep(random.uniform(0, backoff * 2**attempt))


def one_of(provider: str, name: str, ids: list[str]) -> None:
    """Refuse to guess when two servers carry the same inventory name (someone copied our marks)."""
    if len(ids) > 1:
        raise ProviderConflictError(
            f"servers {', '.join(ids)} all carry the marks of inventory server {name}: "
            "remove the marks from all but one",
            provider=provider,
        )


def action_failed(provider: str, command: str, code: str | None, message: str) -> VpsActionError:
    """The error for an action that ended in error, carrying its command and the provider's code."""
    return VpsActionError(
        f"action {command} failed: {code or 'error'}: {message}",
        provider=provider,
        code=code,
        details=[{"command": command, "code": code}],
    )

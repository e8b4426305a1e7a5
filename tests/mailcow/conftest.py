"""The fake Mailcow on loopback, and clients of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from email_infrastructure.core.http import RetryPolicy
from email_infrastructure.mailcow.client import MailcowClient
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow


@pytest.fixture
def fake_mailcow() -> Iterator[tuple[FakeMailcow, str]]:
    """A fake Mailcow served on 127.0.0.1 and its base URL."""
    fake = FakeMailcow()
    with FakeServer(fake) as server:
        yield fake, server.url


@pytest.fixture
async def client(fake_mailcow: tuple[FakeMailcow, str]) -> AsyncIterator[MailcowClient]:
    """A client with the read-write key."""
    fake, url = fake_mailcow

    async def no_sleep(_: float) -> None:
        return None

    async with MailcowClient(url, fake.rw_key, retry=RetryPolicy(attempts=2), sleep=no_sleep) as c:
        yield c

"""One fixture per fake sequencer API, started on loopback: `.url` is the vendor's base URL, `.token` a good key.

`.url` ends like the real base: Instantly and EmailBison are hosts (paths carry /api/…), Smartlead
and ReachInbox end in /api/v1. Each fake keeps the vendor's documented rate limits on a
`ManualClock` (`fake.clock`): time stands still unless a test advances it, so pass
`fake.clock.advance` as a client's sleep, or set `fake.limits = ()`. Fault knobs live in
`fake.faults` (tests/fakes/sequencer_base.py); calls in `fake.log` (method, path, status).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.emailbison import FakeEmailBison
from tests.fakes.instantly import FakeInstantly
from tests.fakes.reachinbox import FakeReachInbox
from tests.fakes.smartlead import FakeSmartlead


@pytest.fixture
def instantly() -> Iterator[FakeInstantly]:
    """A fake Instantly API v2; `.url` is the host, paths carry /api/v2."""
    fake = FakeInstantly()
    with fake.serve() as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def smartlead() -> Iterator[FakeSmartlead]:
    """A fake Smartlead API v1; `.url` ends in /api/v1, the key goes in `?api_key=`."""
    fake = FakeSmartlead()
    with fake.serve() as server:
        fake.url = f"{server.url}/api/v1"
        yield fake


@pytest.fixture
def emailbison() -> Iterator[FakeEmailBison]:
    """A fake EmailBison instance; `.url` is the (per-customer) host, paths carry /api."""
    fake = FakeEmailBison()
    with fake.serve() as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def reachinbox() -> Iterator[FakeReachInbox]:
    """A fake ReachInbox API; `.url` ends in /api/v1. No create route: seed with `add_account`."""
    fake = FakeReachInbox()
    with fake.serve() as server:
        fake.url = f"{server.url}/api/v1"
        yield fake

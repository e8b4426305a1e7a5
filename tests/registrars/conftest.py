"""One fixture per fake registrar API, started on loopback (issue 26's registrar providers test against these).

`porkbun.url` is the v3 base (`…/api/json/v3`), the keys are `porkbun.apikey`/`porkbun.secretapikey`,
`porkbun.balance` is prepaid credit in **cents**. `namecheap.url` is the endpoint itself
(`…/xml.response`, as the sandbox's `https://api.sandbox.namecheap.com/xml.response`), credentials
`namecheap.api_user`/`api_key`/`client_ip`, `namecheap.balance` is a Decimal in dollars. Both keep
their documented rate limits on a `ManualClock` (`fake.clock`): time stands still unless a test
advances it. Fault knobs in `fake.faults` (tests/fakes/sequencer_base.py: seeded 5xx, an order
stored and charged whose answer is lost); calls in `fake.log` (method, path or command, status,
outcome); orders that took money in `fake.charges`. To kill -9 a client mid-purchase, set
`fake.pause_orders = True`, wait for `fake.order_stored`, kill, then `fake.resume.set()`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.namecheap import FakeNamecheap
from tests.fakes.namecheap_wire import PATH
from tests.fakes.porkbun import FakePorkbun
from tests.fakes.porkbun_wire import PREFIX
from tests.fixtures.parent_dns import parent_dns  # noqa: F401  # the parent (TLD) DNS of delegation checks
from tests.fixtures.rdap_fixtures import rdap, rdap_tls  # noqa: F401  # the loopback RDAP registry


@pytest.fixture
def porkbun() -> Iterator[FakePorkbun]:
    """A fake Porkbun API v3 account with $1000 credit (the sandbox's start)."""
    fake = FakePorkbun()
    with fake.serve() as server:
        fake.url = f"{server.url}{PREFIX}"
        yield fake


@pytest.fixture
def namecheap() -> Iterator[FakeNamecheap]:
    """A fake Namecheap XML API account with $100 balance; 127.0.0.1 is allow-listed."""
    fake = FakeNamecheap()
    with fake.serve() as server:
        fake.url = f"{server.url}{PATH}"
        yield fake

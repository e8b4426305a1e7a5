"""One fixture per fake VPS API: `.url` (for `providers.vps.<name>.api_url`), `.token`, `.servers`, fault hooks.

Fault hooks (tests/fakes/vps_base.py): `rate_limit_next`, `fail_create_after_creating`,
`fail_create_without_creating`, `fail_next_action`, `actions_never_finish`, `quota_exceeded`.
For end-to-end runs through the CLI (default poll intervals of seconds), make every wait end on
its first read: `action_polls = 1` (Hetzner, DigitalOcean), `boot_reads, ok_reads = 1, 0` (Vultr).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.digitalocean import FakeDigitalOcean
from tests.fakes.hetzner import FakeHetzner
from tests.fakes.vultr import FakeVultr
from tests.services.conftest import write_inventory  # noqa: F401  # the end-to-end tests here use it too


@pytest.fixture
def hetzner_api() -> Iterator[FakeHetzner]:
    """A fake Hetzner Cloud API on loopback; `.url` ends in /v1 like the real endpoint."""
    fake = FakeHetzner()
    with fake.serve() as server:
        fake.url = f"{server.url}/v1"
        yield fake


@pytest.fixture
def digitalocean_api() -> Iterator[FakeDigitalOcean]:
    """A fake DigitalOcean API on loopback; `.url` is the host (paths carry /v2, as pydo expects)."""
    fake = FakeDigitalOcean()
    with fake.serve() as server:
        fake.url = fake.base_url = server.url
        yield fake


@pytest.fixture
def vultr_api() -> Iterator[FakeVultr]:
    """A fake Vultr API v2 on loopback; `.url` is the host (paths carry /v2)."""
    fake = FakeVultr()
    with fake.serve() as server:
        fake.url = server.url
        yield fake

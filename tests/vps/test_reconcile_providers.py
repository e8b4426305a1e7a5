"""Each provider end to end through plan/apply (real PowerDNS), and the faults a user meets: a bad
token, a full account, an action that fails after the server exists."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.services.vps import list_servers
from email_infrastructure.vps.registry import build_from_spec
from tests.dns.test_powerdns import query
from tests.fakes.vps_base import FakeVps
from tests.fixtures.pdns import PowerDns
from tests.services.conftest import WriteInventory

#: (fixture, provider type, a size with Mailcow's memory, a location, an image) in each catalogue
PROVIDERS = [
    ("hetzner_api", "hetzner", "cx32", "nbg1", "debian-12"),
    ("digitalocean_api", "digitalocean", "s-4vcpu-8gb", "fra1", "debian-12-x64"),
    ("vultr_api", "vultr", "vc2-4c-8gb", "fra", "debian-12"),
]


def inventory(pdns: PowerDns, kind: str, url: str, zone: str, size: str, region: str, image: str) -> str:
    return f"""\
version: 1
providers:
  dns:
    pdns: {{type: powerdns, api_url: "{pdns.api_url}", api_key: env:PDNS_TEST_KEY, nameservers: [ns1.localhost.]}}
  vps:
    cloud: {{type: {kind}, token: env:VPS_TEST_TOKEN, api_url: "{url}", poll_interval: 0.02}}
servers:
  - {{name: mx1, hostname: mail.{zone}, provider: cloud, size: {size}, region: {region}, image: {image}}}
defaults:
  dns_provider: pdns
  server: mx1
domains:
  - name: {zone}
monitoring:
  nameservers: ["127.0.0.1:{pdns.dns_port}"]
"""


@pytest.fixture(params=PROVIDERS, ids=[p[1] for p in PROVIDERS])
def cloud(
    request: pytest.FixtureRequest, pdns: PowerDns, monkeypatch: pytest.MonkeyPatch, write_inventory: WriteInventory
) -> tuple[FakeVps, Any, str]:
    fixture, kind, size, region, image = request.param
    fake: FakeVps = request.getfixturevalue(fixture)
    monkeypatch.setenv("VPS_TEST_TOKEN", fake.token)
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    zone = f"p{uuid.uuid4().hex[:10]}.test"
    return fake, write_inventory(inventory(pdns, kind, fake.url, zone, size, region, image)), zone


async def _read_back(app: App, kind_url: tuple[str, str]) -> Any:
    kind, url = kind_url
    spec = ProviderSpec.model_validate({"type": kind, "token": "env:VPS_TEST_TOKEN", "api_url": url})
    provider = build_from_spec("cloud", spec, poll_interval=0.02)
    try:
        return await provider.find("mx1")
    finally:
        await provider.aclose()


async def test_each_provider_creates_publishes_and_sets_reverse_dns_once(
    app: App, pdns: PowerDns, cloud: tuple[FakeVps, Any, str]
) -> None:
    fake, source, zone = cloud
    applied = await plans.apply(app, source=source)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert len(fake.ours()) == 1
    [view] = await list_servers(app)
    ipv4 = view.facts["ipv4"]
    assert ipv4 and await query(pdns, f"mail.{zone}", "A") == [ipv4]
    kind = source.inventory.providers.vps["cloud"].type
    found = await _read_back(app, (kind, fake.url))
    assert found is not None and found.ptr.get(ipv4, "").rstrip(".") == f"mail.{zone}"
    again = await plans.apply(app)
    assert again.status == "unchanged", again.to_json()
    assert len(fake.ours()) == 1


async def test_a_bad_token_fails_the_plan_clearly_and_never_shows_the_token(
    app: App, cloud: tuple[FakeVps, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, source, _ = cloud
    monkeypatch.setenv("VPS_TEST_TOKEN", "wrong-token-5f2b")
    planned = await plans.plan(app, source=source)
    error = next(s.error for s in planned.failed if s.key == "vps.server:mx1")
    assert error and "wrong-token-5f2b" not in str(planned.to_json())


async def test_a_full_account_fails_the_create_and_leaves_nothing(app: App, cloud: tuple[FakeVps, Any, str]) -> None:
    fake, source, _ = cloud
    fake.quota_exceeded = True
    applied = await plans.apply(app, source=source)
    failed = {o.key: o.error for o in applied.failed}
    assert "vps.server:mx1" in failed and "limit" in str(failed["vps.server:mx1"]).lower()
    assert fake.ours() == [] and [v.created for v in await list_servers(app)] == [False]
    async with app.uow() as uow:
        assert await uow.intents.pending("vps:mx1") != []  # settled by the next plan: nothing was made
    fake.quota_exceeded = False
    again = await plans.apply(app, source=source)
    assert not again.failed and len(fake.ours()) == 1
    async with app.uow() as uow:
        assert await uow.intents.pending("vps:mx1") == []
        created = await uow.events.recent(topic_prefix="vps.server.created")
    assert len(created) == 1


async def test_an_action_that_fails_after_the_server_exists_is_recorded_and_the_next_apply_goes_on(
    app: App, hetzner_api: Any, pdns: PowerDns, monkeypatch: pytest.MonkeyPatch, write_inventory: WriteInventory
) -> None:
    monkeypatch.setenv("VPS_TEST_TOKEN", hetzner_api.token)
    monkeypatch.setenv("PDNS_TEST_KEY", pdns.api_key)
    zone = f"a{uuid.uuid4().hex[:10]}.test"
    source = write_inventory(inventory(pdns, "hetzner", hetzner_api.url, zone, "cx32", "nbg1", "debian-12"))
    hetzner_api.fail_next_action = "server_create_failed"
    first = await plans.apply(app, source=source)
    assert "vps.server:mx1" in {o.key for o in first.failed}
    assert len(hetzner_api.ours()) == 1
    [view] = await list_servers(app)
    assert view.created and "server_create_failed" in str(view.facts["last_error"])  # not orphaned silently
    planned = await plans.plan(app)
    notes = next(s.notes for s in planned.graph.steps if s.key == "vps.server:mx1")
    assert any("last apply failed" in n for n in notes)
    for server in hetzner_api.servers.values():  # the platform recovers it
        server["status"] = "running"
    second = await plans.apply(app)
    assert not second.failed, [(o.key, o.error) for o in second.failed]
    assert len(hetzner_api.ours()) == 1
    assert await query(pdns, f"mail.{zone}", "A") == [hetzner_api.ours()[0]["public_net"]["ipv4"]["ip"]]

"""The desired NS set a delegation is compared with: `DnsProvider.nameservers(zone)` per provider type."""

from __future__ import annotations

from pathlib import Path

import pytest

from email_infrastructure.core.errors import ProviderNotFoundError
from email_infrastructure.dns.config import CloudflareSettings, ZonefileSettings
from email_infrastructure.dns.providers.base import ProviderContext
from email_infrastructure.dns.providers.cloudflare import CloudflareProvider
from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from tests.fakes.cloudflare import FakeCloudflare
from tests.fakes.http_server import FakeServer


async def test_cloudflare_gives_the_zones_assigned_pair(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CF_TEST_TOKEN", "test-token")
    api = FakeCloudflare()
    api.add_zone("acme-outreach.test")
    with FakeServer(api) as server:
        settings = CloudflareSettings(api_token="env:CF_TEST_TOKEN", api_url=server.url + "/client/v4")
        provider = CloudflareProvider("cf", settings, ProviderContext(data_dir=tmp_path))
        try:
            assert await provider.nameservers("acme-outreach.test") == [
                "alice.ns.cloudflare.com",
                "tom.ns.cloudflare.com",
            ]
            with pytest.raises(ProviderNotFoundError, match="does not exist"):
                await provider.nameservers("elsewhere.test")
        finally:
            await provider.close()


async def test_a_provider_with_declared_nameservers_gives_them(tmp_path: Path) -> None:
    settings = ZonefileSettings(nameservers=["ns1.acme.test.", "ns2.acme.test"])
    provider = ZonefileProvider("local", settings, ProviderContext(data_dir=tmp_path))
    declared = await provider.nameservers("acme-outreach.test")
    assert [h.rstrip(".") for h in declared] == ["ns1.acme.test", "ns2.acme.test"]
    assert provider.apex_nameservers() == ["ns1.acme.test.", "ns2.acme.test."]

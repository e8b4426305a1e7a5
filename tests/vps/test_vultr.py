"""The Vultr provider against the fake Vultr API v2."""

from __future__ import annotations

import base64

import pytest

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderConflictError,
    ProviderServerError,
    ProviderValidationError,
)
from email_infrastructure.core.http import RetryPolicy
from email_infrastructure.vps.provider import (
    NotOursError,
    QuotaExceededError,
    ServerRequest,
    VpsActionError,
    VpsProvider,
    ownership_labels,
)
from email_infrastructure.vps.vultr import VultrProvider, os_slug
from tests.fakes.vultr import FakeVultr


def request(name: str = "mx1", **overrides: str) -> ServerRequest:
    fields = {"server_type": "vc2-2c-4gb", "location": "fra", "image": "debian-12", **overrides}
    return ServerRequest(
        name=name,
        hostname=f"mail.{name}.example",
        user_data="#cloud-config\npackages: [curl]\n",
        ssh_keys=("ops",),
        labels=ownership_labels(name),
        **fields,
    )


def provider(api: FakeVultr, **kwargs: object) -> VultrProvider:
    return VultrProvider(
        api.token,
        api_url=api.url,
        poll_interval=0.01,
        retry=RetryPolicy(base_delay=0.01),
        **kwargs,  # type: ignore[arg-type]  # test knobs only
    )


def test_os_slugs() -> None:
    assert os_slug({"name": "Debian 12 x64 (bookworm)", "arch": "x64", "family": "debian"}) == "debian-12"
    assert os_slug({"name": "Ubuntu 24.04 LTS x64", "arch": "x64", "family": "ubuntu"}) == "ubuntu-24.04"
    assert (
        os_slug({"name": "Debian 12 aarch64 (bookworm)", "arch": "aarch64", "family": "debian"}) == "debian-12-aarch64"
    )


async def test_is_a_vps_provider(vultr_api: FakeVultr) -> None:
    assert isinstance(provider(vultr_api), VpsProvider)


async def test_create_waits_until_active_with_addresses(vultr_api: FakeVultr) -> None:
    server = await provider(vultr_api).create(request(), timeout=10)
    assert server.status == "running"
    assert server.name == "mx1" and server.provider_name == "mail.mx1.example"
    assert server.ipv4 is not None and server.ipv4 != "0.0.0.0"
    assert server.ipv6 is not None and server.ipv6.endswith("::1")
    (stored,) = vultr_api.ours()
    assert stored["status"] == "active" and stored["server_status"] == "ok"
    assert sorted(stored["tags"]) == ["email-infra", "email-infra-server:mx1"]
    assert base64.b64decode(stored["_user_data"]).decode().startswith("#cloud-config")
    assert stored["os_id"] == 2136
    assert stored["hostname"] == "mail.mx1.example"


async def test_found_again_by_tag_after_a_crash(vultr_api: FakeVultr) -> None:
    created = await provider(vultr_api).create(request(), timeout=10)
    again = provider(vultr_api)
    found = await again.find("mx1")
    assert found is not None and found.id == created.id
    assert await again.find("mx2") is None
    assert (await again.create(request(), timeout=10)).id == created.id
    assert len(vultr_api.servers) == 1


async def test_server_names_with_dots_survive_the_tag_encoding(vultr_api: FakeVultr) -> None:
    await provider(vultr_api).create(request("mx1.eu"), timeout=10)
    found = await provider(vultr_api).find("mx1.eu")
    assert found is not None and found.name == "mx1.eu"


async def test_list_ours_pages_and_ignores_instances_without_our_tag(vultr_api: FakeVultr) -> None:
    for i in range(5):
        vultr_api.add_server(f"ours{i}.example", ["email-infra", f"email-infra-server:ours{i}"])
    vultr_api.add_server("theirs.example", ["web"])
    ours = await provider(vultr_api, page_size=2).list_ours()
    assert sorted(s.name for s in ours) == [f"ours{i}" for i in range(5)]
    assert vultr_api.calls["GET /v2/instances"] == 3


async def test_reverse_dns_for_ipv4_and_ipv6(vultr_api: FakeVultr) -> None:
    p = provider(vultr_api)
    server = await p.create(request(), timeout=10)
    assert server.ipv4 and server.ipv6
    await p.set_reverse_dns(server, server.ipv4, "mail.mx1.example")
    await p.set_reverse_dns(server, server.ipv6, "mail.mx1.example")
    found = await p.find("mx1")
    assert found is not None
    assert found.ptr == {server.ipv4: "mail.mx1.example", server.ipv6: "mail.mx1.example"}


async def test_delete_only_ours(vultr_api: FakeVultr) -> None:
    p = provider(vultr_api)
    server = await p.create(request(), timeout=10)
    theirs = vultr_api.add_server("theirs.example", ["web"])
    forged = server.__class__(**{**server.__dict__, "id": theirs["id"]})
    with pytest.raises(NotOursError, match="theirs"):
        await p.delete(forged)
    await p.delete(server, timeout=10)
    assert list(vultr_api.servers) == [theirs["id"]]


async def test_invalid_token(vultr_api: FakeVultr) -> None:
    with pytest.raises(ProviderAuthError, match="Invalid API token") as caught:
        await VultrProvider("wrong-token-value", api_url=vultr_api.url).list_ours()
    assert "wrong-token-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("server_type", "vc2-99c", "plan 'vc2-99c'"),
        ("location", "mars", "region 'mars'"),
        ("image", "debian-99", "image 'debian-99'"),
    ],
)
async def test_unknown_plan_region_or_image_names_the_value(
    vultr_api: FakeVultr, field: str, value: str, named: str
) -> None:
    with pytest.raises(ProviderValidationError, match=named):
        await provider(vultr_api).create(request(**{field: value}), timeout=10)
    assert vultr_api.servers == {}


async def test_user_data_over_the_limit_after_base64_is_refused_before_sending(vultr_api: FakeVultr) -> None:
    # 50 KiB of text is 66.7 KiB in base64: over the limit only once encoded
    big = request()
    big = big.__class__(**{**big.__dict__, "user_data": "#cloud-config\n" + "x" * 50 * 1024})
    with pytest.raises(ProviderValidationError, match="base64"):
        await provider(vultr_api).create(big, timeout=10)
    assert vultr_api.calls["POST /v2/instances"] == 0


async def test_quota_exceeded(vultr_api: FakeVultr) -> None:
    vultr_api.quota_exceeded = True
    with pytest.raises(QuotaExceededError, match="maximum number"):
        await provider(vultr_api).create(request(), timeout=10)


@pytest.mark.parametrize("status", [429, 503])
async def test_rate_limited_requests_are_retried(vultr_api: FakeVultr, status: int) -> None:
    vultr_api.rate_limit_status = status
    vultr_api.rate_limit_next = 2
    assert await provider(vultr_api).list_ours() == []
    assert vultr_api.calls["GET /v2/instances"] == 3


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_on_create_after_creating_gives_exactly_one_server(vultr_api: FakeVultr, status: int) -> None:
    vultr_api.fail_create_after_creating = status
    server = await provider(vultr_api).create(request(), timeout=10)
    assert server.status == "running"
    assert len(vultr_api.servers) == 1
    assert vultr_api.calls["POST /v2/instances"] == 1


async def test_500_on_create_that_created_nothing_is_an_error_not_a_retry(vultr_api: FakeVultr) -> None:
    vultr_api.fail_create_without_creating = 500
    with pytest.raises(ProviderServerError, match="500"):
        await provider(vultr_api).create(request(), timeout=10)
    assert vultr_api.calls["POST /v2/instances"] == 1
    assert vultr_api.servers == {}


async def test_503_on_create_that_created_nothing_is_retried_after_a_look_up(vultr_api: FakeVultr) -> None:
    vultr_api.fail_create_without_creating = 503
    await provider(vultr_api).create(request(), timeout=10)
    assert vultr_api.calls["POST /v2/instances"] == 2
    assert len(vultr_api.servers) == 1


async def test_instance_that_never_becomes_active_times_out(vultr_api: FakeVultr) -> None:
    vultr_api.actions_never_finish = True
    with pytest.raises(VpsActionError, match=r"did not finish within 0.2s"):
        await provider(vultr_api).create(request(), timeout=0.2)
    assert len(vultr_api.servers) == 1  # created: the next run finds it by its tag


async def test_catalogue_by_the_names_users_write(vultr_api: FakeVultr) -> None:
    catalogue = await provider(vultr_api).catalogue()
    plan = catalogue.server_types["vc2-2c-4gb"]
    assert (plan.cores, plan.memory_mib, plan.disk_gb) == (2, 4096, 80)
    assert "fra" in plan.locations  # type: ignore[operator]  # the fake gives locations
    assert "fra" in catalogue.locations
    assert {"debian-12", "Debian 12 x64 (bookworm)", "2136"} <= catalogue.images


async def test_two_instances_with_the_same_tags_are_a_conflict(vultr_api: FakeVultr) -> None:
    for host in ("a.example", "b.example"):
        vultr_api.add_server(host, ["email-infra", "email-infra-server:mx1"])
    with pytest.raises(ProviderConflictError, match="mx1"):
        await provider(vultr_api).find("mx1")

"""The DigitalOcean provider (pydo) against the fake DigitalOcean API."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderConflictError,
    ProviderServerError,
    ProviderValidationError,
)
from email_infrastructure.vps.digitalocean import DigitalOceanProvider
from email_infrastructure.vps.provider import (
    NotOursError,
    QuotaExceededError,
    ServerRequest,
    VpsActionError,
    VpsProvider,
    ownership_labels,
)
from tests.fakes.digitalocean import FakeDigitalOcean


def request(name: str = "mx1", **overrides: str) -> ServerRequest:
    fields = {"server_type": "s-2vcpu-4gb", "location": "fra1", "image": "debian-12-x64", **overrides}
    return ServerRequest(
        name=name,
        hostname=f"mail.{name}.example",
        user_data="#cloud-config\npackages: [curl]\n",
        ssh_keys=("3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa",),
        labels=ownership_labels(name),
        **fields,
    )


def provider(api: FakeDigitalOcean, **kwargs: object) -> DigitalOceanProvider:
    return DigitalOceanProvider(api.token, api_url=api.url, poll_interval=0.01, retry_backoff=0.01, **kwargs)  # type: ignore[arg-type]  # test knobs only


async def test_is_a_vps_provider(digitalocean_api: FakeDigitalOcean) -> None:
    assert isinstance(provider(digitalocean_api), VpsProvider)


def test_plain_http_only_to_loopback() -> None:
    with pytest.raises(ConfigError, match="https"):
        DigitalOceanProvider("t", api_url="http://api.example.com")


async def test_create_polls_its_action_and_reports_running_with_addresses(digitalocean_api: FakeDigitalOcean) -> None:
    server = await provider(digitalocean_api).create(request(), timeout=10)
    assert server.status == "running"
    assert server.name == "mx1"
    # the droplet is named by the hostname: that is how DigitalOcean sets its PTR
    assert server.provider_name == "mail.mx1.example"
    assert server.ipv4 is not None and server.ipv6 is not None
    assert server.ptr == {server.ipv4: "mail.mx1.example", server.ipv6: "mail.mx1.example"}
    (stored,) = digitalocean_api.ours()
    assert sorted(stored["tags"]) == ["email-infra", "email-infra-server:mx1"]
    assert stored["_user_data"].startswith("#cloud-config")
    (action,) = digitalocean_api.actions.values()
    assert action.status == "success" and action.reads >= 2
    assert digitalocean_api.calls[f"GET /v2/actions/{action.id}"] >= 1


async def test_found_again_by_tag_after_a_crash(digitalocean_api: FakeDigitalOcean) -> None:
    created = await provider(digitalocean_api).create(request(), timeout=10)
    again = provider(digitalocean_api)
    found = await again.find("mx1")
    assert found is not None and found.id == created.id
    assert await again.find("mx2") is None
    assert (await again.create(request(), timeout=10)).id == created.id
    assert len(digitalocean_api.servers) == 1


async def test_list_ours_pages_and_ignores_droplets_without_our_tag(digitalocean_api: FakeDigitalOcean) -> None:
    for i in range(5):
        digitalocean_api.add_server(f"ours{i}.example", ["email-infra", f"email-infra-server:ours{i}"])
    digitalocean_api.add_server("theirs.example", ["web"])
    ours = await provider(digitalocean_api, page_size=2).list_ours()
    assert sorted(s.name for s in ours) == [f"ours{i}" for i in range(5)]
    assert digitalocean_api.calls["GET /v2/droplets"] == 3


async def test_reverse_dns_renames_the_droplet(digitalocean_api: FakeDigitalOcean) -> None:
    p = provider(digitalocean_api)
    server = await p.create(request(), timeout=10)
    assert server.ipv4 and server.ipv6
    await p.set_reverse_dns(server, server.ipv4, "smtp.mx1.example")
    droplet = digitalocean_api.servers[int(server.id)]
    assert droplet["name"] == "smtp.mx1.example"
    assert digitalocean_api.ptr(int(server.id)) == {server.ipv4: "smtp.mx1.example", server.ipv6: "smtp.mx1.example"}
    renames = [a for a in digitalocean_api.actions.values() if a.command == "rename"]
    # already named so: nothing sent
    await p.set_reverse_dns(server, server.ipv6, "smtp.mx1.example")
    assert len([a for a in digitalocean_api.actions.values() if a.command == "rename"]) == len(renames) == 1


async def test_reverse_dns_refused_for_an_address_not_on_the_droplet(digitalocean_api: FakeDigitalOcean) -> None:
    p = provider(digitalocean_api)
    server = await p.create(request(), timeout=10)
    with pytest.raises(ProviderValidationError, match="first IPv6"):
        await p.set_reverse_dns(server, "::ffff:127.0.0.2", "mail.mx1.example")


async def test_rename_action_ending_in_error(digitalocean_api: FakeDigitalOcean) -> None:
    p = provider(digitalocean_api)
    server = await p.create(request(), timeout=10)
    digitalocean_api.fail_next_action = "errored"
    assert server.ipv4
    with pytest.raises(VpsActionError, match="rename") as caught:
        await p.set_reverse_dns(server, server.ipv4, "smtp.mx1.example")
    assert caught.value.details == [{"command": "rename", "code": "errored"}]


async def test_delete_only_ours(digitalocean_api: FakeDigitalOcean) -> None:
    p = provider(digitalocean_api)
    server = await p.create(request(), timeout=10)
    theirs = digitalocean_api.add_server("theirs.example", ["web"])
    forged = server.__class__(**{**server.__dict__, "id": str(theirs["id"])})
    with pytest.raises(NotOursError, match="theirs"):
        await p.delete(forged)
    await p.delete(server, timeout=10)
    assert list(digitalocean_api.servers) == [theirs["id"]]


async def test_invalid_token(digitalocean_api: FakeDigitalOcean) -> None:
    with pytest.raises(ProviderAuthError, match="Unable to authenticate you") as caught:
        await DigitalOceanProvider("wrong-token-value", api_url=digitalocean_api.url).list_ours()
    assert "wrong-token-value" not in str(caught.value)


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("server_type", "s-99", "size 's-99'"),
        ("location", "mars1", "region 'mars1'"),
        ("image", "debian-99", "image 'debian-99'"),
    ],
)
async def test_unknown_size_region_or_image_names_the_value(
    digitalocean_api: FakeDigitalOcean, field: str, value: str, named: str
) -> None:
    with pytest.raises(ProviderValidationError, match=named):
        await provider(digitalocean_api).create(request(**{field: value}), timeout=10)
    assert digitalocean_api.servers == {}


async def test_user_data_over_64_kib_is_refused_before_sending(digitalocean_api: FakeDigitalOcean) -> None:
    big = request()
    big = big.__class__(**{**big.__dict__, "user_data": "#cloud-config\n" + "x" * 64 * 1024})
    with pytest.raises(ProviderValidationError, match="at most 65536"):
        await provider(digitalocean_api).create(big, timeout=10)
    assert digitalocean_api.calls["POST /v2/droplets"] == 0


async def test_quota_exceeded(digitalocean_api: FakeDigitalOcean) -> None:
    digitalocean_api.quota_exceeded = True
    with pytest.raises(QuotaExceededError, match="droplet limit"):
        await provider(digitalocean_api).create(request(), timeout=10)


async def test_rate_limited_requests_wait_for_the_reset_and_retry(digitalocean_api: FakeDigitalOcean) -> None:
    digitalocean_api.rate_limit_next = 2
    assert await provider(digitalocean_api).list_ours() == []
    assert digitalocean_api.calls["GET /v2/droplets"] == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_on_create_after_creating_gives_exactly_one_droplet(
    digitalocean_api: FakeDigitalOcean, status: int
) -> None:
    digitalocean_api.fail_create_after_creating = status
    server = await provider(digitalocean_api).create(request(), timeout=10)
    assert server.status == "running"
    assert len(digitalocean_api.servers) == 1
    assert digitalocean_api.calls["POST /v2/droplets"] == 1


async def test_500_on_create_that_created_nothing_is_an_error_not_a_retry(digitalocean_api: FakeDigitalOcean) -> None:
    digitalocean_api.fail_create_without_creating = 500
    with pytest.raises(ProviderServerError, match="500"):
        await provider(digitalocean_api).create(request(), timeout=10)
    assert digitalocean_api.calls["POST /v2/droplets"] == 1


async def test_503_on_create_that_created_nothing_is_retried_after_a_look_up(
    digitalocean_api: FakeDigitalOcean,
) -> None:
    digitalocean_api.fail_create_without_creating = 503
    await provider(digitalocean_api).create(request(), timeout=10)
    assert digitalocean_api.calls["POST /v2/droplets"] == 2
    assert len(digitalocean_api.servers) == 1


async def test_create_action_ending_in_error(digitalocean_api: FakeDigitalOcean) -> None:
    digitalocean_api.fail_next_action = "errored"
    with pytest.raises(VpsActionError, match="action create failed"):
        await provider(digitalocean_api).create(request(), timeout=10)


async def test_action_that_never_finishes_times_out(digitalocean_api: FakeDigitalOcean) -> None:
    digitalocean_api.actions_never_finish = True
    with pytest.raises(VpsActionError, match=r"action create .*did not finish within 0.2s"):
        await provider(digitalocean_api).create(request(), timeout=0.2)


async def test_catalogue_by_the_names_users_write(digitalocean_api: FakeDigitalOcean) -> None:
    catalogue = await provider(digitalocean_api).catalogue()
    size = catalogue.server_types["s-2vcpu-4gb"]
    assert (size.cores, size.memory_mib, size.disk_gb) == (2, 4096, 80)
    assert size.locations == frozenset({"fra1", "ams3", "nyc3"})
    assert "fra1" in catalogue.locations and "debian-12-x64" in catalogue.images


async def test_two_droplets_with_the_same_tags_are_a_conflict(digitalocean_api: FakeDigitalOcean) -> None:
    for host in ("a.example", "b.example"):
        digitalocean_api.add_server(host, ["email-infra", "email-infra-server:mx1"])
    with pytest.raises(ProviderConflictError, match="mx1"):
        await provider(digitalocean_api).find("mx1")

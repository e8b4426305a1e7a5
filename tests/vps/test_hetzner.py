"""The Hetzner provider against the fake Hetzner Cloud API."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import (
    ProviderAuthError,
    ProviderConflictError,
    ProviderError,
    ProviderValidationError,
)
from email_infrastructure.vps.hetzner import HetznerProvider
from email_infrastructure.vps.provider import (
    NotOursError,
    QuotaExceededError,
    ServerRequest,
    VpsActionError,
    VpsProvider,
    ownership_labels,
)
from tests.fakes.hetzner import FakeHetzner


def request(name: str = "mx1", **overrides: str) -> ServerRequest:
    fields = {
        "server_type": "cx22",
        "location": "fsn1",
        "image": "debian-12",
        **overrides,
    }
    return ServerRequest(
        name=name,
        hostname=f"mail.{name}.example",
        user_data="#cloud-config\npackages: [curl]\n",
        ssh_keys=("ops",),
        labels=ownership_labels(name),
        **fields,
    )


def provider(api: FakeHetzner, **kwargs: object) -> HetznerProvider:
    return HetznerProvider(api.token, api_url=api.url, poll_interval=0.01, **kwargs)  # type: ignore[arg-type]  # test knobs only


async def test_is_a_vps_provider(hetzner_api: FakeHetzner) -> None:
    assert isinstance(provider(hetzner_api), VpsProvider)


async def test_create_waits_for_the_action_and_reports_running_with_addresses(hetzner_api: FakeHetzner) -> None:
    server = await provider(hetzner_api).create(request(), timeout=10)
    assert server.status == "running"
    assert server.provider_name == "mail.mx1.example"
    assert server.name == "mx1"
    assert server.ipv4 is not None and server.ipv4.startswith("127.0.2.")
    assert server.ipv6 is not None and server.ipv6.endswith("::1")
    stored = hetzner_api.ours()
    assert len(stored) == 1
    assert stored[0]["labels"] == {"managed-by": "email-infra", "email-infra-server": "mx1"}
    assert stored[0]["_user_data"].startswith("#cloud-config")
    assert hetzner_api.calls["GET /v1/actions/" + str(next(iter(hetzner_api.actions)))] >= 2


async def test_found_again_by_label_after_a_crash(hetzner_api: FakeHetzner) -> None:
    created = await provider(hetzner_api).create(request(), timeout=10)
    again = provider(hetzner_api)
    found = await again.find("mx1")
    assert found is not None and found.id == created.id
    assert await again.find("mx2") is None
    # re-running the create after the crash returns the same server
    assert (await again.create(request(), timeout=10)).id == created.id
    assert len(hetzner_api.servers) == 1


async def test_list_ours_pages_and_ignores_servers_without_our_label(hetzner_api: FakeHetzner) -> None:
    for i in range(5):
        hetzner_api.add_server(f"ours{i}", ownership_labels(f"ours{i}"))
    hetzner_api.add_server("theirs", {"role": "web"})
    ours = await provider(hetzner_api, page_size=2).list_ours()
    assert sorted(s.name for s in ours) == [f"ours{i}" for i in range(5)]
    assert hetzner_api.calls["GET /v1/servers"] == 3


async def test_reverse_dns_for_ipv4_and_ipv6(hetzner_api: FakeHetzner) -> None:
    p = provider(hetzner_api)
    server = await p.create(request(), timeout=10)
    assert server.ipv4 and server.ipv6
    await p.set_reverse_dns(server, server.ipv4, "mail.mx1.example")
    await p.set_reverse_dns(server, server.ipv6, "mail.mx1.example")
    found = await p.find("mx1")
    assert found is not None
    assert found.ptr == {server.ipv4: "mail.mx1.example", server.ipv6: "mail.mx1.example"}


async def test_delete_only_ours(hetzner_api: FakeHetzner) -> None:
    p = provider(hetzner_api)
    server = await p.create(request(), timeout=10)
    theirs = hetzner_api.add_server("theirs", {"role": "web"})
    forged = server.__class__(**{**server.__dict__, "id": str(theirs["id"])})
    with pytest.raises(NotOursError, match="theirs"):
        await p.delete(forged)
    assert theirs["id"] in hetzner_api.servers
    await p.delete(server, timeout=10)
    assert list(hetzner_api.servers) == [theirs["id"]]


async def test_invalid_token(hetzner_api: FakeHetzner) -> None:
    p = HetznerProvider("wrong-token-value", api_url=hetzner_api.url)
    with pytest.raises(ProviderAuthError) as caught:
        await p.list_ours()
    assert "wrong-token-value" not in str(caught.value)


@pytest.mark.parametrize(("field", "value"), [("server_type", "cx99"), ("location", "mars1"), ("image", "debian-99")])
async def test_unknown_type_location_or_image_names_the_value(hetzner_api: FakeHetzner, field: str, value: str) -> None:
    with pytest.raises(ProviderValidationError, match=f"{field} '{value}'"):
        await provider(hetzner_api).create(request(**{field: value}), timeout=10)
    assert hetzner_api.servers == {}


async def test_user_data_over_32_kib_is_refused_before_sending(hetzner_api: FakeHetzner) -> None:
    big = request()
    big = big.__class__(**{**big.__dict__, "user_data": "#cloud-config\n" + "x" * 32 * 1024})
    with pytest.raises(ProviderValidationError, match="at most 32768"):
        await provider(hetzner_api).create(big, timeout=10)
    assert hetzner_api.calls["POST /v1/servers"] == 0


async def test_unknown_ssh_key_names_the_key(hetzner_api: FakeHetzner) -> None:
    bad = request()
    bad = bad.__class__(**{**bad.__dict__, "ssh_keys": ("ops", "nobody")})
    with pytest.raises(ProviderValidationError, match="ssh_keys 'ops, nobody'"):
        await provider(hetzner_api).create(bad, timeout=10)
    assert hetzner_api.servers == {}


async def test_quota_exceeded(hetzner_api: FakeHetzner) -> None:
    hetzner_api.quota_exceeded = True
    with pytest.raises(QuotaExceededError, match="limit"):
        await provider(hetzner_api).create(request(), timeout=10)


async def test_rate_limited_requests_are_retried_by_the_library(hetzner_api: FakeHetzner) -> None:
    hetzner_api.rate_limit_next = 1
    assert await provider(hetzner_api).list_ours() == []
    assert hetzner_api.calls["GET /v1/servers"] == 2


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_on_create_after_creating_gives_exactly_one_server(hetzner_api: FakeHetzner, status: int) -> None:
    hetzner_api.fail_create_after_creating = status
    server = await provider(hetzner_api).create(request(), timeout=10)
    assert server.status == "running"
    assert len(hetzner_api.servers) == 1
    assert hetzner_api.calls["POST /v1/servers"] == 1


async def test_bad_gateway_retried_by_the_library_still_gives_one_server(hetzner_api: FakeHetzner) -> None:
    # hcloud resends a create on bad_gateway; the server name is taken by then (uniqueness_error)
    hetzner_api.fail_create_after_creating = 502
    server = await provider(hetzner_api).create(request(), timeout=10)
    assert server.name == "mx1"
    assert len(hetzner_api.servers) == 1
    assert hetzner_api.calls["POST /v1/servers"] == 2


async def test_a_taken_name_that_is_not_ours_is_a_conflict(hetzner_api: FakeHetzner) -> None:
    hetzner_api.add_server("mail.mx1.example", {"role": "web"})
    with pytest.raises(ProviderConflictError, match="not ours"):
        await provider(hetzner_api).create(request(), timeout=10)
    assert len(hetzner_api.servers) == 1


async def test_reverse_dns_action_ending_in_error(hetzner_api: FakeHetzner) -> None:
    p = provider(hetzner_api)
    server = await p.create(request(), timeout=10)
    assert server.ipv4
    hetzner_api.fail_next_action = "dns_ptr_failed"
    with pytest.raises(VpsActionError, match="change_dns_ptr failed: dns_ptr_failed"):
        await p.set_reverse_dns(server, server.ipv4, "mail.mx1.example")


async def test_5xx_on_create_that_created_nothing_is_an_error(hetzner_api: FakeHetzner) -> None:
    hetzner_api.fail_create_without_creating = 500
    with pytest.raises(ProviderError, match="internal server error"):
        await provider(hetzner_api).create(request(), timeout=10)
    assert hetzner_api.calls["POST /v1/servers"] == 1
    assert hetzner_api.servers == {}


async def test_action_ending_in_error(hetzner_api: FakeHetzner) -> None:
    hetzner_api.fail_next_action = "server_create_failed"
    with pytest.raises(VpsActionError) as caught:
        await provider(hetzner_api).create(request(), timeout=10)
    assert caught.value.code == "server_create_failed"
    assert caught.value.details == [{"command": "create_server", "code": "server_create_failed"}]


async def test_action_that_never_finishes_times_out(hetzner_api: FakeHetzner) -> None:
    hetzner_api.actions_never_finish = True
    with pytest.raises(VpsActionError, match=r"create_server.*did not finish within 0.2s"):
        await provider(hetzner_api).create(request(), timeout=0.2)


async def test_catalogue_by_the_names_users_write(hetzner_api: FakeHetzner) -> None:
    catalogue = await provider(hetzner_api).catalogue()
    cx22 = catalogue.server_types["cx22"]
    assert (cx22.cores, cx22.memory_mib, cx22.disk_gb) == (2, 4096, 40)
    assert cx22.locations == frozenset({"fsn1", "nbg1", "hel1"})
    assert "fsn1" in catalogue.locations and "debian-12" in catalogue.images
    assert hetzner_api.calls["GET /v1/datacenters"] == 0


async def test_ownership_labels_are_added_even_when_the_request_has_only_its_own(hetzner_api: FakeHetzner) -> None:
    bare = request()
    bare = bare.__class__(**{**bare.__dict__, "labels": {"role": "mail"}})
    await provider(hetzner_api).create(bare, timeout=10)
    (stored,) = hetzner_api.ours()
    assert stored["labels"] == {"role": "mail", "managed-by": "email-infra", "email-infra-server": "mx1"}
    assert await provider(hetzner_api).find("mx1") is not None


async def test_two_servers_with_the_same_marks_are_a_conflict(hetzner_api: FakeHetzner) -> None:
    hetzner_api.add_server("a.example", ownership_labels("mx1"))
    hetzner_api.add_server("b.example", ownership_labels("mx1"))
    with pytest.raises(ProviderConflictError, match="mx1"):
        await provider(hetzner_api).find("mx1")

"""Building VPS providers from the inventory's `providers.vps.<name>` entries."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import SecretReferenceError, UserError
from email_infrastructure.core.inventory import ProviderSpec
from email_infrastructure.vps.config import VpsSettings
from email_infrastructure.vps.registry import build_from_spec, build_provider
from tests.fakes.hetzner import FakeHetzner


@pytest.mark.parametrize("type_", ["hetzner", "digitalocean", "vultr"])
def test_each_type_builds(type_: str) -> None:
    provider = build_provider(type_, VpsSettings(token="env:UNUSED"), token="t", name="main")
    assert provider.type == type_


def test_unknown_type_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown type 'linode'"):
        build_provider("linode", VpsSettings(token="env:X"), token="t")


def test_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VPS_TOKEN_FOR_TEST", raising=False)
    spec = ProviderSpec.model_validate({"type": "hetzner", "token": "env:VPS_TOKEN_FOR_TEST"})
    with pytest.raises(SecretReferenceError, match="VPS_TOKEN_FOR_TEST"):
        build_from_spec("main", spec)


async def test_built_from_spec_talks_to_the_endpoint(monkeypatch: pytest.MonkeyPatch, hetzner_api: FakeHetzner) -> None:
    monkeypatch.setenv("VPS_TOKEN_FOR_TEST", hetzner_api.token)
    spec = ProviderSpec.model_validate(
        {"type": "hetzner", "token": "env:VPS_TOKEN_FOR_TEST", "api_url": hetzner_api.url, "ssh_keys": ["ops"]}
    )
    provider = build_from_spec("main", spec, poll_interval=0.01)
    assert await provider.list_ours() == []
    assert hetzner_api.calls["GET /v1/servers"] == 1

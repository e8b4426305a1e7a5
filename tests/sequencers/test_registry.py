"""The sequencer registry: every type builds, an unknown type or option is a UserError."""

from __future__ import annotations

import pytest

from email_infrastructure.core.errors import UserError
from email_infrastructure.sequencers.provider import SequencerProvider
from email_infrastructure.sequencers.registry import PROVIDERS, build_sequencer
from tests.fakes.smartlead import FakeSmartlead


@pytest.mark.parametrize("type_", sorted(PROVIDERS))
async def test_every_type_builds_a_provider(type_: str) -> None:
    options = {"api_url": "https://bison.example"} if type_ == "emailbison" else {}
    provider = build_sequencer("main", type_, "tok-registry-1", **options)
    assert isinstance(provider, SequencerProvider) and provider.type == type_ and provider.name == "main"
    await provider.aclose()


def test_unknown_type_and_option_are_user_errors() -> None:
    with pytest.raises(UserError, match=r"sequencer main: unknown type 'lemlist' \(known: emailbison, instantly"):
        build_sequencer("main", "lemlist", "tok")
    with pytest.raises(UserError, match="bad option for reachinbox"):
        build_sequencer("main", "reachinbox", "tok", client_id=3)


async def test_options_reach_the_provider(smartlead: FakeSmartlead) -> None:
    smartlead.add_account("a@a.example", client_id=7)
    smartlead.add_account("b@a.example")
    smartlead.limits = ()
    provider = build_sequencer("agency", "smartlead", smartlead.token, api_url=smartlead.url, client_id=7)
    assert [a.email async for a in provider.accounts()] == ["a@a.example"]
    await provider.aclose()

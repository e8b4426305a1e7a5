"""The ReachInbox provider against the faithful fake (tests/fakes/reachinbox.py): read and warmup only."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from email_infrastructure.core.logging import redact_text
from email_infrastructure.sequencers import reachinbox as module
from email_infrastructure.sequencers.provider import AccountSettings, SequencerCapabilityError, SequencerProvider
from email_infrastructure.sequencers.reachinbox import ReachInboxProvider
from tests.fakes.reachinbox import FakeReachInbox
from tests.sequencers.kit import Recorder, build, login, redacted_records


@pytest.fixture
async def provider(reachinbox: FakeReachInbox) -> AsyncIterator[ReachInboxProvider]:
    """A provider on the fake's clock."""
    made = build(ReachInboxProvider, module.default_limiter, reachinbox)
    yield made
    await made.aclose()


async def test_is_a_sequencer_provider_that_cannot_create(provider: ReachInboxProvider) -> None:
    assert isinstance(provider, SequencerProvider) and not provider.can_create


async def test_create_password_and_delete_are_refused_without_a_request(
    reachinbox: FakeReachInbox, provider: ReachInboxProvider
) -> None:
    reachinbox.add_account("jon@a.example")
    account = await provider.find("jon@a.example")
    assert account is not None
    with pytest.raises(SequencerCapabilityError, match="CSV"):
        await provider.create(login(), AccountSettings())
    with pytest.raises(SequencerCapabilityError):
        await provider.change_password(account, login())
    with pytest.raises(SequencerCapabilityError):
        await provider.delete(account)
    assert len(reachinbox.log) == 1


async def test_find_and_settings(reachinbox: FakeReachInbox, provider: ReachInboxProvider) -> None:
    reachinbox.add_account("jon@a.example", limits=40, warmupEnabled=True, trackingDomain="t.a.example")
    reachinbox.add_account("jon@a.example.org")
    found = await provider.find("jon@a.example")
    assert found is not None and found.remote_id == str(min(reachinbox.accounts))
    assert (found.settings.daily_limit, found.settings.warmup, found.settings.tracking_domain) == (
        40,
        True,
        "t.a.example",
    )
    assert await provider.find("nobody@a.example") is None


async def test_listing_pages_by_offset_to_the_total(reachinbox: FakeReachInbox, provider: ReachInboxProvider) -> None:
    for i in range(250):
        reachinbox.add_account(f"m{i:03}@a.example")
    assert len({a.remote_id async for a in provider.accounts()}) == 250
    assert len(reachinbox.log) == 3


async def test_update_switches_warmup_only(reachinbox: FakeReachInbox) -> None:
    recorder = Recorder()
    provider = build(ReachInboxProvider, module.default_limiter, reachinbox, transport=recorder)
    raw = reachinbox.add_account("jon@a.example")
    account = await provider.find("jon@a.example")
    assert account is not None
    before = len(reachinbox.log)
    same = await provider.update(account, AccountSettings(daily_limit=99, warmup=False, signature="x"))
    assert same == account and len(reachinbox.log) == before
    on = await provider.update(account, AccountSettings(warmup=True, daily_limit=99))
    assert recorder.bodies("POST", "/warmup/enable") == [{"ids": [raw["id"]]}] and len(reachinbox.log) == before + 1
    assert on.settings.warmup is True and reachinbox.accounts[raw["id"]]["warmupEnabled"] is True
    await provider.update(on, AccountSettings(warmup=False))
    assert reachinbox.accounts[raw["id"]]["warmupEnabled"] is False
    await provider.aclose()


async def test_health_of_each_state(reachinbox: FakeReachInbox, provider: ReachInboxProvider) -> None:
    ok = reachinbox.add_account("ok@a.example")
    reachinbox.set_warmup(ok["id"], score=92)
    reachinbox.set_sent_today(ok["id"], 9)
    bad = reachinbox.add_account("bad@a.example")
    reachinbox.set_health(bad["id"], disconnected=True, message="IMAP login failed")
    reachinbox.add_account("idle@a.example", isActive=False)
    health = await provider.health(["ok@a.example", "bad@a.example", "idle@a.example", "none@a.example"])
    h = health["ok@a.example"]
    assert (h.state, h.connected, h.warmup, h.warmup_score, h.sent_today) == ("ok", True, "enabled", 92.0, 9)
    assert (health["bad@a.example"].state, health["bad@a.example"].detail) == ("error", "IMAP login failed")
    assert health["bad@a.example"].connected is False
    assert health["idle@a.example"].state == "warning" and "none@a.example" not in health


async def test_429_waits_and_succeeds(reachinbox: FakeReachInbox, provider: ReachInboxProvider) -> None:
    reachinbox.faults.next_statuses = [429]
    start = reachinbox.clock()
    assert await provider.find("nobody@a.example") is None
    assert reachinbox.clock() - start >= 1.0 and [c.status for c in reachinbox.log] == [429, 200]


async def test_reads_converge_under_20_percent_faults(reachinbox: FakeReachInbox) -> None:
    for i in range(250):
        reachinbox.add_account(f"m{i:03}@a.example")
    reachinbox.faults.reseed(1)
    reachinbox.faults.error_rate, reachinbox.faults.throttle_rate = 0.1, 0.1
    provider = build(ReachInboxProvider, module.default_limiter, reachinbox, attempts=10)
    for _ in range(3):
        assert len([a async for a in provider.accounts()]) == 250
    assert {c.status for c in reachinbox.log} >= {429, 500, 200}, [c.status for c in reachinbox.log]
    await provider.aclose()


async def test_the_token_never_reaches_a_log_record(
    reachinbox: FakeReachInbox, caplog: pytest.LogCaptureFixture
) -> None:
    token = "ri-token-0d4b7e21"
    reachinbox.tokens = {token}
    reachinbox.add_account("jon@a.example")
    caplog.set_level(logging.DEBUG)
    provider = build(ReachInboxProvider, module.default_limiter, reachinbox)
    reachinbox.faults.next_statuses = [500, 429]
    account = await provider.find("jon@a.example")
    assert account is not None
    await provider.update(account, AccountSettings(warmup=True))
    assert redact_text(token) != token
    assert caplog.records and not any(token in text for text in redacted_records(caplog.records))
    await provider.aclose()

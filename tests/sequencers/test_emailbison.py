"""The EmailBison provider against the faithful fake (tests/fakes/emailbison.py)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from email_infrastructure.core.errors import ProviderServerError, UserError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.sequencers import emailbison as module
from email_infrastructure.sequencers.emailbison import EmailBisonProvider
from email_infrastructure.sequencers.provider import AccountExistsError, AccountSettings, SequencerProvider
from tests.fakes.emailbison import FakeEmailBison
from tests.sequencers.kit import PASSWORD, Recorder, build, login, redacted_records

SETTINGS = AccountSettings(daily_limit=25, warmup=True, signature="Jon", reply_rate=30)


@pytest.fixture
async def provider(emailbison: FakeEmailBison) -> AsyncIterator[EmailBisonProvider]:
    """A provider on the fake's clock."""
    made = build(EmailBisonProvider, module.default_limiter, emailbison)
    yield made
    await made.aclose()


def _seed(fake: FakeEmailBison, count: int) -> None:
    for i in range(count):
        fake.add_account(f"m{i:03}@a.example")


def test_the_host_is_required() -> None:
    with pytest.raises(UserError, match="api_url"):
        EmailBisonProvider("t0ken-abc", name="eb")


async def test_is_a_sequencer_provider(provider: EmailBisonProvider) -> None:
    assert isinstance(provider, SequencerProvider) and provider.can_create


async def test_create_applies_settings_and_find_sees_it(
    emailbison: FakeEmailBison, provider: EmailBisonProvider
) -> None:
    created = await provider.create(login(), SETTINGS)
    stored = emailbison.accounts[int(created.remote_id)]
    assert stored["_password"] == PASSWORD and stored["daily_limit"] == 25 and stored["warmup_enabled"] is True
    s = created.settings
    assert (s.daily_limit, s.warmup, s.signature) == (25, True, "Jon")
    assert [c.method for c in emailbison.log] == ["POST", "PATCH", "PATCH"]  # create, daily limit, warmup
    found = await provider.find("jon@a.example")
    assert found is not None and found.remote_id == created.remote_id and found.settings == created.settings
    assert await provider.find("jon@b.example") is None


async def test_a_taken_email_is_account_exists(emailbison: FakeEmailBison, provider: EmailBisonProvider) -> None:
    emailbison.add_account("jon@a.example")
    with pytest.raises(AccountExistsError, match="already been taken"):
        await provider.create(login(), SETTINGS)
    assert len(emailbison.accounts) == 1


async def test_listing_follows_last_page(emailbison: FakeEmailBison, provider: EmailBisonProvider) -> None:
    _seed(emailbison, 250)
    assert len([a async for a in provider.accounts()]) == 250
    assert len(emailbison.calls("GET", "/api/sender-emails")) == 3
    emailbison.max_per_page = 15  # a server that ignores `per_page`: every page is still read
    assert len([a async for a in provider.accounts()]) == 250
    assert len(emailbison.calls("GET", "/api/sender-emails")) == 3 + 17


async def test_update_sends_only_the_differing_fields(emailbison: FakeEmailBison) -> None:
    recorder = Recorder()
    provider = build(EmailBisonProvider, module.default_limiter, emailbison, transport=recorder)
    account = await provider.create(login(), SETTINGS)
    before = len(emailbison.log)
    assert await provider.update(account, SETTINGS) == account and len(emailbison.log) == before
    changed = await provider.update(account, AccountSettings(daily_limit=40, signature="Jon", sending_gap=3))
    assert recorder.bodies("PATCH", f"/sender-emails/{account.remote_id}")[-1] == {"daily_limit": 40}
    assert len(emailbison.log) == before + 1 and changed.settings.daily_limit == 40
    off = await provider.update(changed, AccountSettings(warmup=False))
    assert recorder.bodies("PATCH", "/warmup/sender-emails/disable") == [{"sender_email_ids": [int(account.remote_id)]}]
    assert off.settings.warmup is False and emailbison.accounts[int(account.remote_id)]["warmup_enabled"] is False
    await provider.aclose()


async def test_change_password_recreates_with_the_same_settings(
    emailbison: FakeEmailBison, provider: EmailBisonProvider
) -> None:
    account = await provider.create(login(), SETTINGS)
    again = await provider.change_password(account, login(password="New-pw-0000"))
    assert again.remote_id != account.remote_id and list(emailbison.accounts) == [int(again.remote_id)]
    stored = emailbison.accounts[int(again.remote_id)]
    assert stored["_password"] == "New-pw-0000" and stored["daily_limit"] == 25 and stored["warmup_enabled"]


async def test_delete_twice_is_done(emailbison: FakeEmailBison, provider: EmailBisonProvider) -> None:
    account = await provider.create(login(), SETTINGS)
    await provider.delete(account)
    await provider.delete(account)
    assert emailbison.accounts == {}


async def test_health_of_each_state(emailbison: FakeEmailBison, provider: EmailBisonProvider) -> None:
    emailbison.add_account("ok@a.example", warmup_enabled=True)
    bad = emailbison.add_account("bad@a.example")
    emailbison.set_status(bad["id"], "Disconnected")
    emailbison.add_account("odd@a.example", status=None)
    health = await provider.health(["ok@a.example", "bad@a.example", "odd@a.example", "none@a.example"])
    assert (health["ok@a.example"].state, health["ok@a.example"].connected, health["ok@a.example"].warmup) == (
        "ok",
        True,
        "enabled",
    )
    assert (health["bad@a.example"].state, health["bad@a.example"].detail) == ("error", "Disconnected")
    assert health["odd@a.example"].state == "unknown" and "none@a.example" not in health


async def test_429_waits_and_succeeds(emailbison: FakeEmailBison, provider: EmailBisonProvider) -> None:
    emailbison.faults.next_statuses = [429]
    start = emailbison.clock()
    assert await provider.find("nobody@a.example") is None
    assert emailbison.clock() - start >= 1.0 and [c.status for c in emailbison.log] == [429, 200]


async def test_reads_converge_under_20_percent_faults(emailbison: FakeEmailBison) -> None:
    _seed(emailbison, 250)
    emailbison.faults.reseed(11)
    emailbison.faults.error_rate, emailbison.faults.throttle_rate = 0.1, 0.1
    provider = build(EmailBisonProvider, module.default_limiter, emailbison, attempts=10)
    for _ in range(3):
        assert len([a async for a in provider.accounts()]) == 250
    assert {c.status for c in emailbison.log} >= {429, 500, 200}
    await provider.aclose()


@pytest.mark.parametrize("lost_as", ["drop", "500"])
async def test_a_create_whose_answer_is_lost_is_found(
    emailbison: FakeEmailBison, provider: EmailBisonProvider, lost_as: str
) -> None:
    emailbison.faults.lose_next_creates, emailbison.faults.lost_as = 1, lost_as
    account = await provider.create(login(), SETTINGS)
    assert account.email == "jon@a.example" and len(emailbison.accounts) == 1
    assert len(emailbison.calls("POST")) == 1 and account.settings.daily_limit == 25


async def test_the_intermittent_500_on_create_is_not_retried(
    emailbison: FakeEmailBison, provider: EmailBisonProvider
) -> None:
    emailbison.faults.create_error_rate = 1.0
    with pytest.raises(ProviderServerError):
        await provider.create(login(), SETTINGS)
    assert emailbison.accounts == {} and len(emailbison.calls("POST")) == 1


async def test_the_token_never_reaches_a_log_record(
    emailbison: FakeEmailBison, caplog: pytest.LogCaptureFixture
) -> None:
    token = "9|eb-token-77c1e0aa"
    emailbison.tokens = {token}
    caplog.set_level(logging.DEBUG)
    provider = build(EmailBisonProvider, module.default_limiter, emailbison)
    emailbison.faults.next_statuses = [500, 429]
    await provider.find("jon@a.example")
    await provider.create(login(), SETTINGS)
    assert redact_text(token) != token
    assert caplog.records and not any(token in text for text in redacted_records(caplog.records))
    await provider.aclose()

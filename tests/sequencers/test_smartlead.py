"""The Smartlead provider against the faithful fake (tests/fakes/smartlead.py): passwords never leave it."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator

import pytest

from email_infrastructure.core.errors import ProviderError, ProviderServerError, ProviderValidationError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.sequencers import smartlead as module
from email_infrastructure.sequencers.provider import AccountExistsError, AccountSettings, SequencerProvider
from email_infrastructure.sequencers.smartlead import SmartleadProvider, scrub
from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.kit import PASSWORD, Recorder, build, login, redacted_records

SETTINGS = AccountSettings(daily_limit=30, warmup=True, warmup_per_day=20, reply_rate=40, sending_gap=12)


@pytest.fixture
async def provider(smartlead: FakeSmartlead) -> AsyncIterator[SmartleadProvider]:
    """A provider on the fake's clock."""
    made = build(SmartleadProvider, module.default_limiter, smartlead)
    yield made
    await made.aclose()


def _seed(fake: FakeSmartlead, count: int) -> None:
    for i in range(count):
        fake.add_account(f"m{i:03}@a.example", password=PASSWORD)


def test_scrub_drops_every_password_key() -> None:
    body = {"password": "a", "imap_password": "b", "x": [{"encrypted_password": "c", "keep": 1}], "y": {"Password": 2}}
    assert scrub(body) == {"x": [{"keep": 1}], "y": {}}


async def test_is_a_sequencer_provider(provider: SmartleadProvider) -> None:
    assert isinstance(provider, SequencerProvider) and provider.can_create


@pytest.mark.parametrize("shape", ["fixture", "docs"])
async def test_create_reads_back_and_find_sees_it(
    smartlead: FakeSmartlead, provider: SmartleadProvider, shape: str
) -> None:
    smartlead.save_shape = shape
    created = await provider.create(login(), SETTINGS)
    stored = smartlead.by_email("jon@a.example")
    assert created.remote_id == str(stored["id"]) and stored["password"] == PASSWORD
    s = created.settings
    assert (s.daily_limit, s.warmup, s.warmup_per_day, s.reply_rate, s.sending_gap) == (30, True, 20, 40, 12)
    assert created.health.state == "ok" and created.health.connected is True
    found = await provider.find("jon@a.example")
    assert found is not None and found.remote_id == created.remote_id and found.settings == created.settings
    assert await provider.find("jon@b.example") is None
    assert PASSWORD not in repr(created) + repr(found)


async def test_create_of_a_known_email_is_account_exists(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    smartlead.add_account("jon@a.example")
    with pytest.raises(AccountExistsError):
        await provider.create(login(), SETTINGS)
    assert len(smartlead.accounts) == 1 and not smartlead.calls("POST", "/save")


async def test_listing_pages_by_offset_100_at_a_time(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    _seed(smartlead, 250)
    accounts = [a async for a in provider.accounts()]
    assert len(accounts) == 250 and len({a.remote_id for a in accounts}) == 250
    assert len(smartlead.calls("GET", "/email-accounts")) == 3
    assert not any(PASSWORD in repr(a) for a in accounts)


async def test_update_sends_only_the_differing_fields(smartlead: FakeSmartlead) -> None:
    recorder = Recorder()
    provider = build(SmartleadProvider, module.default_limiter, smartlead, transport=recorder)
    account = await provider.create(login(), SETTINGS)
    before = len(smartlead.log)
    assert await provider.update(account, SETTINGS) == account and len(smartlead.log) == before
    changed = await provider.update(account, AccountSettings(daily_limit=50, sending_gap=12, tags=("t",), ramp_up=5))
    assert recorder.bodies("POST", f"/email-accounts/{account.remote_id}")[-1] == {"max_email_per_day": 50}
    assert changed.settings.daily_limit == 50 and len(smartlead.log) == before + 2  # POST + read back
    off = await provider.update(changed, AccountSettings(warmup=False, reply_rate=50))
    assert recorder.bodies("POST", "/warmup")[-1] == {"warmup_enabled": False, "reply_rate_percentage": 50}
    assert off.settings.warmup is False and off.settings.reply_rate == 50
    await provider.aclose()


async def test_change_password_saves_with_the_id(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    account = await provider.create(login(), SETTINGS)
    again = await provider.change_password(account, login(password="New-pw-0000"))
    stored = smartlead.by_email("jon@a.example")
    assert again.remote_id == account.remote_id and len(smartlead.accounts) == 1
    assert stored["password"] == stored["imap_password"] == "New-pw-0000"
    assert again.settings.warmup is True


async def test_delete_twice_is_done(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    account = await provider.create(login(), SETTINGS)
    await provider.delete(account)
    await provider.delete(account)
    assert smartlead.accounts == {}


async def test_health_of_each_state(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    ok = smartlead.add_account("ok@a.example")
    smartlead.set_warmup(ok["id"], reputation=95)
    smartlead.set_sent_today(ok["id"], 7)
    bad = smartlead.add_account("bad@a.example")
    smartlead.set_health(bad["id"], smtp=False, error="535 Authentication failed")
    blocked = smartlead.add_account("blocked@a.example")
    smartlead.accounts[blocked["id"]]["warmup_details"].update(is_warmup_blocked=True, blocked_reason="spam")
    health = await provider.health(["ok@a.example", "bad@a.example", "blocked@a.example", "none@a.example"])
    h = health["ok@a.example"]
    assert (h.state, h.connected, h.warmup, h.warmup_score, h.sent_today) == ("ok", True, "active", 95.0, 7)
    assert health["bad@a.example"].state == "error" and health["bad@a.example"].connected is False
    assert health["bad@a.example"].detail == "SMTP: 535 Authentication failed"
    assert health["blocked@a.example"].state == "warning" and "spam" in health["blocked@a.example"].detail
    assert "none@a.example" not in health


async def test_429_waits_for_retry_after_and_succeeds(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    smartlead.faults.next_statuses = [429]
    start = smartlead.clock()
    assert await provider.find("nobody@a.example") is None
    assert smartlead.clock() - start >= 1.0 and [c.status for c in smartlead.log] == [429, 200]


async def test_the_client_keeps_under_the_limits(smartlead: FakeSmartlead, provider: SmartleadProvider) -> None:
    for _ in range(70):
        await provider.find("nobody@a.example")
    assert all(c.status == 200 for c in smartlead.log) and smartlead.clock() - 1_000_000.0 >= 60.0


async def test_reads_converge_under_20_percent_faults(smartlead: FakeSmartlead) -> None:
    _seed(smartlead, 150)
    smartlead.faults.reseed(5)
    smartlead.faults.error_rate, smartlead.faults.throttle_rate = 0.1, 0.1
    provider = build(SmartleadProvider, module.default_limiter, smartlead, attempts=10)
    for _ in range(4):
        assert len([a async for a in provider.accounts()]) == 150
    assert {c.status for c in smartlead.log} >= {429, 500, 200}
    await provider.aclose()


@pytest.mark.parametrize("lost_as", ["drop", "500"])
async def test_a_create_whose_answer_is_lost_is_found(
    smartlead: FakeSmartlead, provider: SmartleadProvider, lost_as: str
) -> None:
    smartlead.faults.lose_next_creates, smartlead.faults.lost_as = 1, lost_as
    account = await provider.create(login(), SETTINGS)
    assert account.email == "jon@a.example" and len(smartlead.accounts) == 1
    assert len(smartlead.calls("POST", "/save")) == 1


async def test_a_create_that_failed_before_storing_raises(
    smartlead: FakeSmartlead, provider: SmartleadProvider
) -> None:
    smartlead.faults.create_error_rate = 1.0
    with pytest.raises(ProviderServerError) as failed:
        await provider.create(login(), SETTINGS)
    assert smartlead.accounts == {} and "<" not in str(failed.value)  # the HTML page is not quoted


async def test_no_password_in_accounts_health_errors_or_logs(
    smartlead: FakeSmartlead, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    smartlead.list_passwords = "plain"
    provider = build(SmartleadProvider, module.default_limiter, smartlead)
    account = await provider.create(login(), SETTINGS)
    seen = [repr(account), repr(await provider.find("jon@a.example"))]
    seen += [repr(a) async for a in provider.accounts()]
    seen.append(repr(await provider.health(["jon@a.example"])))
    smartlead.fail_login.add("jon@a.example")
    with pytest.raises(ProviderError) as refused:
        await provider.change_password(account, login())
    smartlead.faults.next_statuses = [500, 500, 500, 500]
    with pytest.raises(ProviderError) as failed:
        await provider.find("jon@a.example")
    seen += [str(refused.value), repr(refused.value.details), str(failed.value)]
    seen += [r.getMessage() for r in caplog.records]
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    assert not [text for text in seen if PASSWORD in text or encoded in text]
    await provider.aclose()


async def test_the_key_never_reaches_a_log_record(smartlead: FakeSmartlead, caplog: pytest.LogCaptureFixture) -> None:
    key = "sl-key-93ad0c6e"
    smartlead.tokens = {key}
    caplog.set_level(logging.DEBUG)
    provider = build(SmartleadProvider, module.default_limiter, smartlead)
    smartlead.faults.next_statuses = [500, 429]
    await provider.create(login(), SETTINGS)
    assert redact_text(f"?api_key={key}") != f"?api_key={key}" and redact_text(key) != key
    assert caplog.records and not any(key in text for text in redacted_records(caplog.records))
    await provider.aclose()


async def test_a_failing_login_is_refused_or_stored_disconnected(
    smartlead: FakeSmartlead, provider: SmartleadProvider
) -> None:
    smartlead.fail_login.add("jon@a.example")
    with pytest.raises(ProviderValidationError, match="SMTP connection failed"):
        await provider.create(login(), SETTINGS)
    assert smartlead.accounts == {}
    smartlead.login_failure = "store"  # which one Smartlead does is unconfirmed
    created = await provider.create(login(), SETTINGS)
    assert created.health.state == "error" and created.health.connected is False
    assert created.health.detail == "SMTP: Invalid credentials; IMAP: Invalid credentials"

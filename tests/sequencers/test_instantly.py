"""The Instantly provider against the faithful fake (tests/fakes/instantly.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from email_infrastructure.core.errors import ProviderAuthError, ProviderServerError
from email_infrastructure.core.logging import redact_text
from email_infrastructure.sequencers import instantly as module
from email_infrastructure.sequencers.instantly import InstantlyProvider
from email_infrastructure.sequencers.provider import AccountExistsError, AccountSettings, SequencerProvider
from tests.fakes.instantly import FakeInstantly
from tests.sequencers.kit import PASSWORD, Recorder, build, login, redacted_records

SETTINGS = AccountSettings(daily_limit=30, warmup_per_day=20, reply_rate=10, sending_gap=5, signature="Jon")


@pytest.fixture
async def provider(instantly: FakeInstantly) -> AsyncIterator[InstantlyProvider]:
    """A provider on the fake's clock."""
    made = build(InstantlyProvider, module.default_limiter, instantly)
    yield made
    await made.aclose()


def _seed(fake: FakeInstantly, count: int) -> None:
    for i in range(count):
        fake.add_account(f"m{i:03}@a.example")


async def test_is_a_sequencer_provider(provider: InstantlyProvider) -> None:
    assert isinstance(provider, SequencerProvider) and provider.can_create


async def test_create_reads_back_and_find_sees_it(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    created = await provider.create(login(), AccountSettings(**{**SETTINGS.__dict__, "warmup": True}))
    assert created.remote_id == created.email == "jon@a.example"
    assert created.settings.daily_limit == 30 and created.settings.warmup_per_day == 20
    assert created.settings.reply_rate == 10 and created.settings.sending_gap == 5 and created.settings.warmup
    stored = instantly.accounts["jon@a.example"]
    assert stored["_secret"]["smtp_password"] == stored["_secret"]["imap_password"] == PASSWORD
    assert stored["warmup"]["reply_rate"] == 0.1  # Instantly's fraction
    assert not instantly.calls("POST", "/warmup/enable")  # queued: one job per 100 accounts
    assert await provider.flush() == ["jon@a.example"] and await provider.flush() == []
    assert len(instantly.calls("POST", "/warmup/enable")) == 1 and not instantly.calls("GET", "background-jobs")
    found = await provider.find("jon@a.example")
    assert found is not None and found.settings.daily_limit == 30 and found.health.state == "ok"
    assert await provider.find("nobody@a.example") is None


@pytest.mark.parametrize("duplicate_status", [400, None])
async def test_a_second_create_is_account_exists(
    instantly: FakeInstantly, provider: InstantlyProvider, duplicate_status: int | None
) -> None:
    instantly.duplicate_status = duplicate_status  # refused, or answered with the old account (unconfirmed)
    await provider.create(login(), SETTINGS)
    with pytest.raises(AccountExistsError):
        await provider.create(login(password="Other-pw-1"), SETTINGS)
    assert instantly.accounts["jon@a.example"]["_secret"]["smtp_password"] == PASSWORD
    assert len(instantly.calls("POST", "/api/v2/accounts")) == 1


async def test_a_failing_login_shows_in_health_after_create(
    instantly: FakeInstantly, provider: InstantlyProvider
) -> None:
    instantly.fail_login.add("jon@a.example")
    created = await provider.create(login(), SETTINGS)
    assert created.health.state == "error" and created.health.connected is False and "535" in created.health.detail


async def test_listing_pages_by_cursor_100_at_a_time(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    _seed(instantly, 250)
    emails = [a.email async for a in provider.accounts()]
    assert emails == sorted(instantly.accounts) and len(emails) == 250
    assert len([c for c in instantly.log if c.path == "/api/v2/accounts"]) == 3


async def test_listing_stops_on_a_short_page_even_with_a_cursor(
    instantly: FakeInstantly, provider: InstantlyProvider
) -> None:
    instantly.cursor_on_last_page = True
    _seed(instantly, 200)
    assert len([a async for a in provider.accounts()]) == 200
    assert (
        len([c for c in instantly.log if c.path == "/api/v2/accounts"]) == 3
    )  # the last full page's cursor leads to an empty page


async def test_update_sends_only_the_differing_fields(instantly: FakeInstantly) -> None:
    recorder = Recorder()
    provider = build(InstantlyProvider, module.default_limiter, instantly, transport=recorder)
    account = await provider.create(login(), SETTINGS)
    before = len(instantly.log)
    same = await provider.update(account, SETTINGS)
    assert same == account and len(instantly.log) == before
    changed = await provider.update(account, AccountSettings(daily_limit=50, sending_gap=5, tags=("x",)))
    assert len(instantly.log) == before + 1
    assert recorder.bodies("PATCH") == [{"daily_limit": 50}]
    assert changed.settings.daily_limit == 50
    await provider.update(changed, AccountSettings(reply_rate=30))
    assert recorder.bodies("PATCH")[-1] == {"warmup": {"limit": 20, "reply_rate": 0.3}}
    await provider.update(changed, AccountSettings(warmup=True))
    assert await provider.flush() == ["jon@a.example"]
    assert recorder.bodies("POST", "/warmup/enable") == [{"emails": ["jon@a.example"]}]
    await provider.aclose()


async def test_change_password_recreates_with_the_same_settings(
    instantly: FakeInstantly, provider: InstantlyProvider
) -> None:
    account = await provider.create(login(), SETTINGS)
    again = await provider.change_password(account, login(password="New-pw-0000"))
    assert instantly.accounts["jon@a.example"]["_secret"]["smtp_password"] == "New-pw-0000"
    assert again.settings.daily_limit == 30 and again.settings.reply_rate == 10
    assert len(instantly.calls("DELETE")) == 1 and len(instantly.calls("POST", "/api/v2/accounts")) == 2


async def test_delete_twice_is_done(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    account = await provider.create(login(), SETTINGS)
    await provider.delete(account)
    await provider.delete(account)
    assert instantly.accounts == {}


async def test_health_of_each_state(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    for email, status in (("ok@a.example", 1), ("p@a.example", 2), ("m@a.example", 3), ("e@a.example", -1)):
        instantly.add_account(email)
        instantly.set_status(email, status)
    instantly.set_warmup("ok@a.example", status=1, score=87)
    instantly.set_sent_today("ok@a.example", 12)
    instantly.add_account("b@a.example", warmup_status=-1)
    health = await provider.health(
        ["ok@a.example", "p@a.example", "m@a.example", "e@a.example", "b@a.example", "x@a.example"]
    )
    assert set(health) == {"ok@a.example", "p@a.example", "m@a.example", "e@a.example", "b@a.example"}
    ok = health["ok@a.example"]
    assert (ok.state, ok.connected, ok.warmup, ok.warmup_score, ok.sent_today) == ("ok", True, "active", 87.0, 12)
    assert health["p@a.example"].state == health["m@a.example"].state == "warning"
    assert "maintenance" in health["m@a.example"].detail
    error = health["e@a.example"]
    assert error.state == "error" and error.connected is False and "535" in error.detail
    assert health["b@a.example"].state == "warning" and health["b@a.example"].warmup == "banned"
    assert [c.path for c in instantly.calls("GET")] == ["/api/v2/accounts", "/api/v2/accounts/analytics/daily"]


async def test_429_waits_and_succeeds(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    instantly.retry_after_header = True
    instantly.faults.next_statuses = [429]
    start = instantly.clock()
    assert await provider.find("nobody@a.example") is None
    assert instantly.clock() - start >= 1.0 and [c.status for c in instantly.log] == [429, 404]


async def test_the_client_keeps_under_the_limits(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    for _ in range(150):
        await provider.find("nobody@a.example")
    assert all(c.status == 404 for c in instantly.log)


async def test_reads_converge_under_20_percent_faults(instantly: FakeInstantly) -> None:
    _seed(instantly, 250)
    instantly.faults.reseed(3)
    instantly.faults.error_rate, instantly.faults.throttle_rate = 0.1, 0.1
    provider = build(InstantlyProvider, module.default_limiter, instantly, attempts=10)
    for _ in range(3):
        assert len([a async for a in provider.accounts()]) == 250
    assert {c.status for c in instantly.log} >= {429, 500, 200}
    await provider.aclose()


@pytest.mark.parametrize("lost_as", ["drop", "500"])
async def test_a_create_whose_answer_is_lost_is_found(
    instantly: FakeInstantly, provider: InstantlyProvider, lost_as: str
) -> None:
    instantly.faults.lose_next_creates, instantly.faults.lost_as = 1, lost_as
    account = await provider.create(login(), SETTINGS)
    assert account.email == "jon@a.example" and list(instantly.accounts) == ["jon@a.example"]
    assert len(instantly.calls("POST", "/api/v2/accounts")) == 1


async def test_a_create_that_failed_before_storing_raises(
    instantly: FakeInstantly, provider: InstantlyProvider
) -> None:
    instantly.faults.create_error_rate = 1.0
    with pytest.raises(ProviderServerError):
        await provider.create(login(), SETTINGS)
    assert instantly.accounts == {} and len(instantly.calls("POST", "/api/v2/accounts")) == 1


async def test_the_token_never_reaches_a_log_record(instantly: FakeInstantly, caplog: pytest.LogCaptureFixture) -> None:
    token = "inst-key-5be1d2c9"
    instantly.tokens = {token}
    caplog.set_level(logging.DEBUG)
    provider = build(InstantlyProvider, module.default_limiter, instantly)
    await provider.create(login(), SETTINGS)
    instantly.faults.next_statuses = [500, 429]
    assert await provider.find("jon@a.example") is not None
    instantly.tokens = {"other"}
    with pytest.raises(ProviderAuthError) as refused:
        await provider.find("jon@a.example")
    assert token not in str(refused.value) and redact_text(f"key {token}") != f"key {token}"
    assert caplog.records and not any(token in text for text in redacted_records(caplog.records))
    await provider.aclose()


async def test_warmup_jobs_go_out_a_hundred_emails_at_a_time(
    instantly: FakeInstantly, provider: InstantlyProvider
) -> None:
    instantly.limits = ()
    for i in range(150):
        await provider.create(login(f"m{i:03}@a.example"), AccountSettings(warmup=True), absent=True)
    sent = await provider.flush()
    assert len(sent) == 150 and len(instantly.calls("POST", "/warmup/enable")) == 2
    assert not instantly.calls("GET", "/api/v2/accounts/m000@a.example")  # absent: no look-up before a create


async def test_concurrent_flushes_send_each_email_once(instantly: FakeInstantly, provider: InstantlyProvider) -> None:
    instantly.limits = ()
    for i in range(30):
        await provider.create(login(f"c{i:03}@a.example"), AccountSettings(warmup=True), absent=True)
    flushed = await asyncio.gather(*(provider.flush() for _ in range(3)))
    sent = [email for batch in flushed for email in batch]
    assert sorted(sent) == sorted(f"c{i:03}@a.example" for i in range(30))  # each once, none twice
    assert len(instantly.calls("POST", "/warmup/enable")) == 1

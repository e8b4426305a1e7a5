"""The `sequencer` monitoring family (services/sequencer_health.py): each platform's health of our mailboxes,
one read per sequencer per run, a stored result per mailbox with a finding per platform; state changes
become events and alerts through a real webhook receiver on loopback; no password of a Smartlead read
ever lands in a stored row, an event or an alert."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from email_infrastructure.core.events import Event
from email_infrastructure.reconcile.sequencer_wanted import Wanted
from email_infrastructure.sequencers.provider import AccountHealth, AccountSettings
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import MonitorRequest, MonitorService, check_schedule, check_states
from email_infrastructure.services.sequencer_accounts import SequencerRead
from email_infrastructure.services.sequencer_health import SequencerResult, results
from email_infrastructure.services.status import status
from email_infrastructure.storage.models import CheckResultRecord, CheckState, EventRecord
from tests.fakes.http_server import FakeServer
from tests.fakes.instantly import FakeInstantly
from tests.fakes.smartlead import FakeSmartlead
from tests.sequencers.conftest import emailbison, instantly, reachinbox, smartlead
from tests.services.conftest import WriteInventory
from tests.services.test_alert_sinks import Recorder
from tests.services.test_sequencer_accounts import _inventory

__all__ = ["emailbison", "instantly", "reachinbox", "smartlead"]  # the fakes' fixtures, used here

ANN, BOB, CARA = "ann.lee@acme-outreach.test", "bob.stone@acme-outreach.test", "cara.diaz@acme-mail.test"
SECRET = "Sm4rtlead-pw-in-every-read"


@pytest.fixture
def recorder() -> Iterator[tuple[Recorder, str]]:
    """A webhook receiver on loopback and its URL."""
    seen = Recorder()
    with FakeServer(seen) as server:
        yield seen, f"{server.url}/hook"


@pytest.fixture
async def watched(
    app: App,
    write_inventory: WriteInventory,
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    recorder: tuple[Recorder, str],
    monkeypatch: pytest.MonkeyPatch,
) -> App:
    """The quickstart: acme-outreach.test's mailboxes go to Instantly (`inst`), acme-mail.test's to
    Smartlead (`sl`); alerts go to the webhook receiver."""
    monkeypatch.setenv("INST_KEY", instantly.token)
    monkeypatch.setenv("SL_KEY", smartlead.token)
    instantly.limits = smartlead.limits = ()
    text = _inventory(instantly, smartlead).replace(
        "\ndomains:\n", f"\nmonitoring:\n  alert_sinks:\n    - {{type: webhook, url: '{recorder[1]}'}}\n\ndomains:\n", 1
    )
    await import_inventory(app, write_inventory(text))
    return app


async def _run(app: App) -> Any:
    service = await MonitorService.create(app, MonitorRequest())
    try:
        (summary,) = await service.run_once(["sequencer"])
    finally:
        await service.close()
    return summary


async def _states(app: App) -> dict[str, str]:
    return {s.subject: s.status for s in await check_states(app) if s.check == "sequencer"}


def _listings(fake: FakeInstantly | FakeSmartlead, path: str) -> int:
    return sum(1 for c in fake.log if c.method == "GET" and c.path == path)


async def test_a_disconnected_account_alerts_once_and_its_recovery_too(
    watched: App,
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    recorder: tuple[Recorder, str],
    events: list[Event],
) -> None:
    instantly.add_account(ANN)
    instantly.add_account(BOB)
    instantly.set_sent_today(ANN, 7)
    smartlead.add_account(CARA, password=SECRET)
    seen, _ = recorder

    first = await _run(watched)
    assert first.report.status.value == "ok" and await _states(watched) == {ANN: "ok", BOB: "ok", CARA: "ok"}
    assert seen.seen == []

    instantly.set_status(BOB, -1)
    second = await _run(watched)
    assert [(t.subject, t.old, t.new) for t in second.transitions] == [(BOB, "ok", "error")]
    [(_, _, alert)] = seen.seen
    assert alert["topic"] == "monitoring.check.failed" and alert["payload"]["subject"] == BOB
    assert alert["payload"]["summary"].startswith("mailbox disconnected in Instantly (inst): connection error")

    third = await _run(watched)  # nothing changed: nothing raised
    assert third.transitions == [] and len(seen.seen) == 1

    instantly.set_status(BOB, 1)
    fourth = await _run(watched)
    assert [(t.subject, t.old, t.new) for t in fourth.transitions] == [(BOB, "error", "ok")]
    assert [body["topic"] for _, _, body in seen.seen] == ["monitoring.check.failed", "monitoring.check.recovered"]
    topics = [e.topic for e in events if e.topic.startswith("monitoring.check.")]
    assert topics == ["monitoring.check.failed", "monitoring.check.recovered"]

    # one listing per sequencer per run, never a call per mailbox
    assert _listings(instantly, "/api/v2/accounts") == 4 and _listings(smartlead, "/api/v1/email-accounts/") == 4
    assert not [c for c in instantly.log if c.path.startswith("/api/v2/accounts/") and "@" in c.path]
    assert {c.method for c in [*instantly.log, *smartlead.log]} == {"GET"}
    # the readings ride along in the history: sends today, warmup
    async with watched.uow() as uow:
        latest = await uow.checks.history(ANN, "sequencer", limit=1)
    [ann] = latest[0].findings["sequencers"]
    assert (ann["sequencer"], ann["state"], ann["connected"], ann["sent_today"]) == ("inst", "ok", True, 7)


async def test_missing_paused_low_warmup_and_unreadable_platforms(
    watched: App, instantly: FakeInstantly, smartlead: FakeSmartlead, monkeypatch: pytest.MonkeyPatch
) -> None:
    instantly.add_account(ANN)
    instantly.set_warmup(ANN, status=1, score=62)
    instantly.add_account(BOB, status=2)  # paused at Instantly
    smartlead.add_account(CARA, password=SECRET)

    first = await _run(watched)
    results = {s.subject: s.checks["sequencer"] for s in first.report.domains}
    assert {a: r.status.value for a, r in results.items()} == {ANN: "warning", BOB: "warning", CARA: "ok"}
    assert [f.message for f in results[ANN].findings] == ["warmup score 62 below 80 in Instantly (inst)"]
    assert [f.id for f in results[BOB].findings] == ["sequencer.paused"]

    del instantly.accounts[ANN]
    monkeypatch.setenv("SL_KEY", "a-wrong-key")
    second = await _run(watched)
    results = {s.subject: s.checks["sequencer"] for s in second.report.domains}
    assert [f.id for f in results[ANN].findings] == ["sequencer.missing"]
    assert results[CARA].status.value == "unknown" and [f.id for f in results[CARA].findings] == [
        "sequencer.unreachable"
    ]
    assert "a-wrong-key" not in json.dumps(results[CARA].to_json())
    # unknown never moves a state: Cara stays ok until Smartlead answers again
    assert (await _states(watched))[CARA] == "ok"


async def test_no_password_of_a_smartlead_read_is_stored_sent_or_logged(
    watched: App,
    instantly: FakeInstantly,
    smartlead: FakeSmartlead,
    recorder: tuple[Recorder, str],
    events: list[Event],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    instantly.add_account(ANN)
    cara = smartlead.add_account(CARA, password=SECRET)
    await _run(watched)
    smartlead.set_health(cara["id"], smtp=False, error="535 5.7.8 authentication failed")
    summary = await _run(watched)
    assert [(t.subject, t.new) for t in summary.transitions] == [(CARA, "error")]
    async with watched.uow() as uow:
        stored = [
            *[(r.subject, r.status, r.findings) for r in await uow.session.scalars(select(CheckResultRecord))],
            *[(s.subject, s.status, s.summary) for s in await uow.session.scalars(select(CheckState))],
            *[(e.topic, e.payload) for e in await uow.session.scalars(select(EventRecord))],
        ]
    dumped = json.dumps([stored, [e.payload for e in events], seen_bodies(recorder[0])], default=str)
    assert "535 5.7.8 authentication failed" in dumped  # the platform's words are kept …
    assert SECRET not in dumped and SECRET not in caplog.text  # … its passwords never
    assert base64_of(SECRET) not in dumped


def seen_bodies(recorder: Recorder) -> list[dict[str, Any]]:
    """Every alert body the receiver got."""
    return [body for _, _, body in recorder.seen]


def base64_of(text: str) -> str:
    """Smartlead's docs say listed passwords may be base64: search for that form too."""
    import base64

    return base64.b64encode(text.encode()).decode()


async def test_the_schedule_and_status_name_the_sequencer_family(watched: App, instantly: FakeInstantly) -> None:
    schedule = await check_schedule(watched)
    assert schedule.intervals["sequencer"] == 3600
    assert schedule.subjects["sequencer"] == ["acme-mail.test", "acme-outreach.test"]
    before = (await status(watched)).components["sequencers"]
    assert before.status.value == "unknown" and "never checked" in before.detail

    instantly.add_account(ANN, status=-1)
    await _run(watched)  # Ann disconnected, Bob and Cara missing
    after = (await status(watched)).components["sequencers"]
    assert after.status.value == "degraded"
    assert after.detail == f"inst, sl: 3 mailbox(es): 1 error, 2 warning (disconnected: {ANN})"


def _judged(type_: str, health: AccountHealth | None, warmup: bool | None = None) -> SequencerResult:
    """One platform's judgement of Ann's account (None: the platform does not have it)."""
    wanted = Wanted(ANN, "acme-outreach.test", "s1", AccountSettings(warmup=warmup))
    held = {} if health is None else {ANN: health}
    return results([SequencerRead("s1", type_, [wanted], held=held)])[ANN]


@pytest.mark.parametrize(
    ("type_", "health", "warmup", "expected"),
    [
        ("instantly", AccountHealth("ok", "", True, "active", 95.0, 3), None, []),
        ("instantly", AccountHealth("ok", "", True, "active", 79.0), None, [("sequencer.warmup", "score 79 below 80")]),
        ("instantly", AccountHealth("ok", "", True, "paused", 20.0), None, []),  # not warming: its score says nothing
        ("instantly", AccountHealth("ok", "", True, "paused"), True, [("sequencer.warmup", "paused although")]),
        (
            "instantly",
            AccountHealth("warning", "warmup banned", True, "banned"),
            None,
            [("sequencer.warmup", "banned")],
        ),
        (
            "instantly",
            AccountHealth("warning", "paused", True, "banned"),
            None,
            [("sequencer.paused", "mailbox paused in Instantly (s1)"), ("sequencer.warmup", "banned")],
        ),
        (
            "smartlead",
            AccountHealth("warning", "warmup blocked: spam", True, "active"),
            None,
            [("sequencer.warmup", "blocked: spam")],
        ),
        (
            "smartlead",
            AccountHealth("warning", "suspended", True),
            None,
            [("sequencer.paused", "mailbox suspended in Smartlead")],
        ),
        (
            "reachinbox",
            AccountHealth("warning", "inactive", True),
            None,
            [("sequencer.paused", "inactive in ReachInbox")],
        ),
        (
            "emailbison",
            AccountHealth("error", "Disconnected", False),
            None,
            [("sequencer.disconnected", "EmailBison (s1): Disconnected")],
        ),
        ("emailbison", AccountHealth("unknown"), None, [("sequencer.unknown", "does not say")]),
        ("emailbison", None, None, [("sequencer.missing", "not in EmailBison (s1)")]),
    ],
)
def test_each_platforms_reading_becomes_its_finding(
    type_: str, health: AccountHealth | None, warmup: bool | None, expected: list[tuple[str, str]]
) -> None:
    result = _judged(type_, health, warmup)
    assert [f.id for f in result.findings] == [i for i, _ in expected]
    for finding, (_, words) in zip(result.findings, expected, strict=True):
        assert words in finding.message
    [reading] = result.to_json()["sequencers"]
    assert reading["state"] == (health.state if health is not None else "missing")
    assert result.status.value != "ok" or not expected


async def test_scheduled_batches_read_each_sequencer_once_per_interval_for_the_whole_workspace(
    watched: App, instantly: FakeInstantly, smartlead: FakeSmartlead, monkeypatch: pytest.MonkeyPatch
) -> None:
    from email_infrastructure.services import monitoring
    from email_infrastructure.services.monitoring import run_batch

    clock = [7200.0 * 1000]
    monkeypatch.setattr(monitoring, "_now", lambda: clock[0])
    instantly.add_account(ANN)
    smartlead.add_account(CARA, password=SECRET)

    def batch(domain: str, slot: int) -> dict[str, str | None]:
        return {domain: f"check:sequencer:{domain}:{slot}"}

    first = await run_batch(watched, "sequencer", batch("acme-outreach.test", 1))
    assert first.summary is not None
    # the first batch of the interval reports every mailbox of the workspace, Cara's domain included
    assert sorted(s.subject for s in first.summary.report.domains) == [ANN, BOB, CARA]
    second = await run_batch(watched, "sequencer", batch("acme-mail.test", 1))
    assert second.summary is not None and second.summary.report.domains == []
    assert await _states(watched) == {ANN: "ok", BOB: "warning", CARA: "ok"}
    assert _listings(instantly, "/api/v2/accounts") == 1 and _listings(smartlead, "/api/v1/email-accounts/") == 1

    clock[0] += 3600  # the next interval: read again, once
    await run_batch(watched, "sequencer", batch("acme-mail.test", 2))
    await run_batch(watched, "sequencer", batch("acme-outreach.test", 2))
    assert _listings(instantly, "/api/v2/accounts") == 2 and _listings(smartlead, "/api/v1/email-accounts/") == 2

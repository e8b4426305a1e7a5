"""The monitor's state machine, history and alert sinks against real local receivers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory.schema import SinkSpec
from email_infrastructure.core.settings import Settings
from email_infrastructure.monitoring.alerts import AlertDispatcher
from email_infrastructure.monitoring.audit import AuditReport, SubjectReport
from email_infrastructure.monitoring.findings import CheckResult
from email_infrastructure.monitoring.metrics import exposition
from email_infrastructure.monitoring.monitor import FAMILIES, Monitor
from email_infrastructure.monitoring.sinks import build_sink
from email_infrastructure.services.app import App
from email_infrastructure.services.monitoring import check_states, record_results
from email_infrastructure.storage.db import Database
from tests.fakes.http_server import FakeServer
from tests.fixtures.pdns import free_port


class Receiver:
    """An HTTP endpoint that records what it receives."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def __call__(
        self, method: str, path: str, query: Any, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.requests.append((headers, body))
        return 200, {"Content-Type": "text/plain"}, b"ok"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def receivers(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Receiver, Receiver, Mailbox, dict[str, Any]]]:
    slack, hook, mailbox = Receiver(), Receiver(), Mailbox()
    smtp_port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    with FakeServer(slack) as slack_server, FakeServer(hook) as hook_server:
        monkeypatch.setenv("TEST_SLACK_URL", slack_server.url + "/services/T000/B000/XXXX")
        monkeypatch.setenv("TEST_HOOK_SECRET", "hook-secret-123")
        settings = {
            "sinks": [
                SinkSpec(type="slack", webhook_url="env:TEST_SLACK_URL"),  # type: ignore[call-arg]
                SinkSpec(type="webhook", url=hook_server.url + "/alerts", secret="env:TEST_HOOK_SECRET"),  # type: ignore[call-arg]
                SinkSpec(
                    type="email",
                    host="127.0.0.1",
                    port=smtp_port,
                    starttls="never",
                    **{"from": "monitor@fleet.test"},
                    to=["ops@fleet.test"],
                ),  # type: ignore[call-arg]
            ]
        }
        yield slack, hook, mailbox, settings
    controller.stop()


def report(status_by_subject: dict[str, str]) -> AuditReport:
    domains = []
    for subject, status in status_by_subject.items():
        result = CheckResult("spf")
        if status == "error":
            result.error("spf.missing", f"{subject} publishes no SPF record")
        elif status == "unknown":
            result.cannot_tell("spf.unknown", "timeout")
        domains.append(SubjectReport(subject, {"spf": result}))
    return AuditReport(domains, [])


async def test_alerts_only_on_changes_of_state_and_sinks_receive_them(
    database: Database, settings: Settings, receivers: Any
) -> None:
    slack, hook, mailbox, config = receivers
    app = App(settings.model_copy(update={"database_url": database.url}))
    bus = app.bus
    events: list[Event] = []
    bus.subscribe("monitoring.*", events.append)
    dispatcher = AlertDispatcher([build_sink(i, s) for i, s in enumerate(config["sinks"])])
    dispatcher.attach(bus)
    script = iter(
        [
            {"a.test": "ok", "b.test": "error"},  # b fails: one alert
            {"a.test": "ok", "b.test": "error"},  # nothing changed: no alert storm
            {"a.test": "unknown", "b.test": "unknown"},  # a resolver hiccup: no alert, state kept
            {"a.test": "error", "b.test": "ok"},  # a fails, b recovers
        ]
    )

    async def runner(checks: set[str]) -> AuditReport:
        return report(next(script))

    monitor = Monitor(runner, lambda rows: record_results(app, rows), {})
    for _ in range(4):
        await monitor.run_family("dns", {"spf"})
    await bus.drain()
    await dispatcher.close()
    assert [(e.topic, e.payload["subject"]) for e in events] == [
        ("monitoring.check.failed", "b.test"),
        ("monitoring.check.failed", "a.test"),
        ("monitoring.check.recovered", "b.test"),
    ]
    assert dispatcher.failures == []
    assert len(slack.requests) == 3
    assert "FAILED spf on b.test" in json.loads(slack.requests[0][1])["text"]
    headers, body = hook.requests[0]
    timestamp = headers["x-email-infra-timestamp"]
    expected = "sha256=" + hmac.new(b"hook-secret-123", timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert headers["x-email-infra-signature"] == expected
    assert json.loads(body)["topic"] == "monitoring.check.failed"
    assert len(mailbox.messages) == 3
    assert b"Subject: [email-infra] FAILED spf on b.test" in mailbox.messages[0]
    async with app.uow() as uow:
        assert len(await uow.checks.history("a.test", "spf")) == 4
        logged = [r.topic for r in await uow.events.recent(topic_prefix="monitoring.")]
    assert sorted(logged) == sorted(e.topic for e in events)  # each alert logged once, with its state
    states = {s.subject: s.status for s in await check_states(app)}
    assert states == {"a.test": "error", "b.test": "ok"}
    text = exposition(await check_states(app)).decode()
    assert 'email_infra_check_state{check="spf",state="error",subject="a.test"} 1.0' in text
    assert 'email_infra_check_state{check="spf",state="ok",subject="a.test"} 0.0' in text
    await app.close()


async def test_a_failing_sink_does_not_stop_the_others(
    settings: Settings, receivers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slack, hook, _mailbox, config = receivers
    broken = SinkSpec(type="webhook", url="http://127.0.0.1:1/nothing-listens")  # type: ignore[call-arg]
    dispatcher = AlertDispatcher([build_sink(0, broken), build_sink(1, config["sinks"][1])])
    for sink in dispatcher.sinks:
        sink._client.retry = type(sink._client.retry)(attempts=1)  # type: ignore[attr-defined]
    await dispatcher.deliver(Event("monitoring.check.failed", {"subject": "x.test", "check": "spf", "status": "error"}))
    await dispatcher.close()
    assert len(dispatcher.failures) == 1
    assert len(hook.requests) == 1


async def test_run_forever_repeats_each_family_at_its_interval_until_stopped(settings: Settings) -> None:
    app = App(settings)
    calls: list[frozenset[str]] = []
    stop = asyncio.Event()

    async def runner(checks: set[str]) -> AuditReport:
        calls.append(frozenset(checks))
        if sum("spf" in c for c in calls) >= 3:
            stop.set()
        return report({"a.test": "ok"})

    intervals = {"dns": 0.2, "blacklist": 30, "ptr": 30, "tls": 30}
    monitor = Monitor(runner, lambda rows: record_results(app, rows), intervals)
    await asyncio.wait_for(monitor.run_forever(stop), 20)
    dns_runs = sum("spf" in c for c in calls)
    assert dns_runs == 3
    assert sum("dnsbl" in c for c in calls) <= 1  # 30 s interval: at most its first, jittered run
    await app.close()


async def test_a_stop_ends_the_first_jittered_sleep_at_once(settings: Settings) -> None:
    app = App(settings)
    stop = asyncio.Event()

    async def runner(checks: set[str]) -> AuditReport:
        return report({"a.test": "ok"})

    # Hour-long intervals: the first sleep is up to 6 minutes of jitter.
    monitor = Monitor(runner, lambda rows: record_results(app, rows), dict.fromkeys(FAMILIES, 3600))
    task = asyncio.ensure_future(monitor.run_forever(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(task, 5)
    await app.close()

"""The event bus: patterns, unsubscribe, isolation of failing handlers, the audit log."""

from __future__ import annotations

import logging

import pytest

from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.storage.db import Database
from email_infrastructure.storage.repositories import EventLog


async def test_patterns_select_topics() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("dns.*", lambda e: seen.append("dns:" + e.topic))
    bus.subscribe("*.check.failed", lambda e: seen.append("failed:" + e.topic))
    await bus.emit("dns.record.created", {"name": "x"})
    await bus.emit("monitoring.check.failed")
    await bus.emit("mailcow.mailbox.created")
    assert seen == ["dns:dns.record.created", "failed:monitoring.check.failed"]


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe("*", seen.append)
    await bus.emit("dns.zone.updated")
    unsubscribe()
    unsubscribe()  # idempotent
    await bus.emit("dns.zone.updated")
    assert len(seen) == 1


async def test_failing_handler_never_hurts_publisher_or_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    async def broken(event: Event) -> None:
        raise RuntimeError("handler bug")

    def also_broken(event: Event) -> None:
        raise KeyError("sync bug")

    async def good(event: Event) -> None:
        seen.append(event.topic)

    bus.subscribe("*", broken)
    bus.subscribe("*", also_broken)
    bus.subscribe("*", good)
    with caplog.at_level(logging.ERROR):
        await bus.emit("vps.server.created")
    assert seen == ["vps.server.created"]
    assert sum("failed on vps.server.created" in r.getMessage() for r in caplog.records) == 2


def test_topics_must_have_three_parts() -> None:
    with pytest.raises(ValueError, match="component"):
        Event("dns.created")


async def test_every_event_is_appended_to_the_audit_log(database: Database) -> None:
    db = database
    bus = EventBus()
    log = EventLog(db.sessions)
    log.attach(bus)
    await bus.emit("dns.record.created", {"name": "_dmarc.example.test", "api_key": "k-987654"}, source="test")
    await bus.emit("monitoring.check.failed", {"check": "spf"})
    rows = await log.recent()
    assert [r.topic for r in rows] == ["monitoring.check.failed", "dns.record.created"]
    assert rows[1].payload == {"name": "_dmarc.example.test", "api_key": "[REDACTED]"}
    assert [r.topic for r in await log.recent(topic_prefix="dns.")] == ["dns.record.created"]

"""The event bus: patterns, unsubscribe, isolation of failing handlers, the audit log."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from email_infrastructure.core.events import Event, EventBus, Topic, correlation
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.storage.db import Database


def _topic(name: str) -> Topic[dict[str, Any]]:
    """A topic of untyped payloads, for tests of the bus itself."""
    return Topic(name, dict)


async def test_patterns_select_topics() -> None:
    bus = EventBus()
    seen: list[str] = []
    bus.subscribe("dns.*", lambda e: seen.append("dns:" + e.topic))
    bus.subscribe("*.check.failed", lambda e: seen.append("failed:" + e.topic))
    await bus.emit(_topic("dns.record.created"), {"name": "x"})
    await bus.emit(_topic("monitoring.check.failed"), {})
    await bus.emit(_topic("mailcow.mailbox.created"), {})
    assert seen == ["dns:dns.record.created", "failed:monitoring.check.failed"]


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[Event] = []
    unsubscribe = bus.subscribe("*", seen.append)
    await bus.emit(_topic("dns.zone.updated"), {})
    unsubscribe()
    unsubscribe()  # idempotent
    await bus.emit(_topic("dns.zone.updated"), {})
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
        await bus.emit(_topic("vps.server.created"), {})
    assert seen == ["vps.server.created"]
    assert sum("failed on vps.server.created" in r.getMessage() for r in caplog.records) == 2


def test_topics_must_have_three_parts() -> None:
    with pytest.raises(ValueError, match="component"):
        Event("dns.created")


async def test_events_of_a_unit_of_work_are_logged_with_it_and_published_after_commit(
    database: Database, settings: Settings
) -> None:
    app = App(settings.model_copy(update={"database_url": database.url}))
    seen: list[str] = []
    app.bus.subscribe("*", lambda e: seen.append(e.topic))
    async with app.uow() as uow:
        uow.emit(_topic("dns.record.created"), {"name": "_dmarc.example.test", "api_key": "k-987654"}, source="test")
        uow.emit(_topic("monitoring.check.failed"), {"check": "spf"})
        assert seen == []  # nothing is published before the commit
        await uow.commit()
    assert seen == ["dns.record.created", "monitoring.check.failed"]
    async with app.uow() as uow:
        uow.emit(_topic("dns.record.deleted"), {"name": "x.example.test"})
        # left without commit: rolled back, never logged, never published
    async with app.uow() as uow:
        rows = await uow.events.recent()
        assert sorted(r.topic for r in rows) == ["dns.record.created", "monitoring.check.failed"]
        created = next(r for r in rows if r.topic == "dns.record.created")
        assert created.payload == {"name": "_dmarc.example.test", "api_key": "[REDACTED]"}
        assert [r.topic for r in await uow.events.recent(topic_prefix="dns.")] == ["dns.record.created"]
    assert seen == ["dns.record.created", "monitoring.check.failed"]
    await app.close()


async def test_events_carry_the_correlation_id_of_their_run() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe("*", seen.append)
    with correlation() as run_id:
        await bus.emit(_topic("dns.record.created"), {})
    await bus.emit(_topic("dns.record.deleted"), {})
    assert [e.correlation_id for e in seen] == [run_id, None]


async def test_a_queued_handler_never_stalls_the_publisher() -> None:
    bus = EventBus()
    release = asyncio.Event()
    delivered: list[str] = []

    async def slow_sink(event: Event) -> None:
        await release.wait()  # a sink whose server does not answer
        delivered.append(event.topic)

    bus.subscribe("monitoring.*", slow_sink, queued=True)
    await asyncio.wait_for(bus.emit(_topic("monitoring.check.failed"), {}), timeout=5)
    await asyncio.wait_for(bus.emit(_topic("monitoring.check.recovered"), {}), timeout=5)
    assert delivered == []
    release.set()
    await asyncio.wait_for(bus.drain(), timeout=5)
    assert delivered == ["monitoring.check.failed", "monitoring.check.recovered"]
    await bus.close()


def test_typed_topics_need_three_parts() -> None:
    with pytest.raises(ValueError, match="component"):
        Topic("dns.created", dict)

"""Event fan-out across processes: a bridge from a process's EventBus to one Redis stream, and readers.

- `publish_to_stream` forwards every event published on a bus (after its unit of work committed)
  to the stream `<prefix>:events`, trimmed to about `STREAM_LENGTH` entries.
- `StreamGroupReader` reads it as a consumer group: each event is handled by one consumer of the
  group (alert sinks: each alert sent once, whichever worker produced it); an event a dead
  consumer read but never acknowledged is claimed by another after `claim_idle_ms`.
- `tail` reads it plainly: every reader sees every event (live dashboards).

Events read from the stream are published on the reader's own bus, never on a bridged one, so
nothing loops back into the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from email_infrastructure.core.events import Event, EventBus
from email_infrastructure.core.redis import redis_client, redis_key

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from email_infrastructure.core.settings import Settings

#: entries kept in the stream (approximate trimming is O(1)); readers far behind lose the oldest
STREAM_LENGTH = 100_000


def stream_name(settings: Settings) -> str:
    """The events stream of this deployment."""
    return redis_key(settings, "events")


def encode(event: Event) -> dict[str, str]:
    """A stream entry: one JSON field (payloads are already redacted by Event)."""
    body = {
        "id": event.id,
        "topic": event.topic,
        "payload": dict(event.payload),
        "source": event.source,
        "occurred_at": event.occurred_at.isoformat(),
        "correlation_id": event.correlation_id,
        "workspace": event.workspace,
    }
    return {"event": json.dumps(body, default=str, sort_keys=True)}


def decode(fields: dict[bytes, bytes]) -> Event:
    """The Event of a stream entry."""
    body = json.loads(fields[b"event"])
    return Event(
        topic=body["topic"],
        payload=body["payload"],
        source=body["source"],
        id=body["id"],
        occurred_at=datetime.fromisoformat(body["occurred_at"]),
        correlation_id=body["correlation_id"],
        workspace=body.get("workspace"),
    )


def publish_to_stream(bus: EventBus, settings: Settings, redis: Redis | None = None) -> Callable[[], Awaitable[None]]:
    """Forward every event of `bus` to the stream; returns an async function that stops and closes."""
    client = redis or redis_client(settings)
    name = stream_name(settings)

    async def forward(event: Event) -> None:
        await client.xadd(name, encode(event), maxlen=STREAM_LENGTH, approximate=True)  # type: ignore[arg-type]  # redis-py types fields as a dict of its encodable union, str values are fine

    unsubscribe = bus.subscribe("*", forward)

    async def close() -> None:
        unsubscribe()
        if redis is None:
            await client.aclose()

    return close


class StreamGroupReader:
    """One consumer of a consumer group on the events stream; each event goes to one consumer."""

    def __init__(
        self, settings: Settings, group: str, consumer: str, *, claim_idle_ms: int = 60_000, redis: Redis | None = None
    ) -> None:
        self.redis = redis or redis_client(settings)
        self._owned = redis is None
        self.stream = stream_name(settings)
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms

    async def ensure_group(self) -> None:
        """Create the group at the stream's start (idempotent; the stream is created if missing)."""
        from redis.exceptions import ResponseError

        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, count: int = 100, block_ms: int = 1000) -> list[tuple[bytes, Event]]:
        """Entries left by a dead consumer first (idle past `claim_idle_ms`), then new ones."""
        claimed = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=count
        )
        entries = [(entry_id, fields) for entry_id, fields in claimed[1] if fields]
        if not entries:
            answer = await self.redis.xreadgroup(self.group, self.consumer, {self.stream: ">"}, count, block_ms)
            entries = [item for _, items in answer for item in items]
        return [(entry_id, decode(fields)) for entry_id, fields in entries]

    async def ack(self, entry_id: bytes) -> None:
        """The event was handled: no other consumer will get it."""
        await self.redis.xack(self.stream, self.group, entry_id)

    async def run(self, bus: EventBus, stop: asyncio.Event) -> None:
        """Publish each event on `bus` (its handlers run), then acknowledge it, until `stop`."""
        await self.ensure_group()
        while not stop.is_set():
            for entry_id, event in await self.read():
                await bus.publish(event)
                await bus.drain()
                await self.ack(entry_id)

    async def close(self) -> None:
        """Close the client if this reader made it."""
        if self._owned:
            await self.redis.aclose()


async def tail(
    settings: Settings, stop: asyncio.Event, *, last_id: str = "$", redis: Redis | None = None
) -> AsyncIterator[Event]:
    """Every event from now on (or after `last_id`), for as long as `stop` is not set."""
    client = redis or redis_client(settings)
    name = stream_name(settings)
    try:
        while not stop.is_set():
            answer = await client.xread({name: last_id}, count=100, block=1000)
            for _, items in answer:
                for entry_id, fields in items:
                    last_id = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                    yield decode(fields)
    finally:
        if redis is None:
            with contextlib.suppress(Exception):
                await client.aclose()

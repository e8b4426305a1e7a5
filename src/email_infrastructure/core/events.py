"""An async in-process event bus: typed events, topic patterns, isolated handlers."""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from email_infrastructure.core.logging import redact

_log = logging.getLogger(__name__)
_TOPIC = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Event:
    """Something that happened: `<component>.<resource>.<verb>` plus a JSON-safe payload."""

    topic: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        if not _TOPIC.match(self.topic):
            raise ValueError(f"event topic {self.topic!r} is not <component>.<resource>.<verb>")
        # Events are stored and sent to alert sinks: never let a secret in.
        object.__setattr__(self, "payload", redact(dict(self.payload)))

    @property
    def component(self) -> str:
        """The first part of the topic."""
        return self.topic.split(".", 1)[0]


Handler = Callable[[Event], Awaitable[None] | None]


class EventBus:
    """Publish/subscribe with glob topic patterns (`dns.*`, `*.check.failed`)."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler]] = []

    def subscribe(self, pattern: str, handler: Handler) -> Callable[[], None]:
        """Call `handler` for every event whose topic matches `pattern`; returns unsubscribe."""
        entry = (pattern, handler)
        self._subscriptions.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscriptions:
                self._subscriptions.remove(entry)

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Deliver to every matching handler; a failing handler is logged, never raised."""
        handlers = [h for p, h in list(self._subscriptions) if fnmatch.fnmatchcase(event.topic, p)]
        results = await asyncio.gather(*(self._call(handler, event) for handler in handlers), return_exceptions=True)
        for handler, result in zip(handlers, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation and interrupts still propagate
            if isinstance(result, Exception):
                _log.error(
                    "event handler %s failed on %s: %s",
                    getattr(handler, "__qualname__", repr(handler)),
                    event.topic,
                    result,
                    exc_info=result,
                )

    async def emit(self, topic: str, payload: Mapping[str, Any] | None = None, source: str = "") -> Event:
        """Build and publish an event in one call."""
        event = Event(topic=topic, payload=payload or {}, source=source)
        await self.publish(event)
        return event

    @staticmethod
    async def _call(handler: Handler, event: Event) -> None:
        result = handler(event)
        if inspect.isawaitable(result):
            await result

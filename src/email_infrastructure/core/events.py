"""An async in-process event bus: typed topics, correlation ids, isolated and queued handlers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fnmatch
import inspect
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from email_infrastructure.core.logging import redact

_log = logging.getLogger(__name__)
_TOPIC = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
P = TypeVar("P", bound=Mapping[str, Any])

#: the plan/apply/check run that events published now belong to
_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new_correlation_id() -> str:
    """A fresh run id."""
    return uuid.uuid4().hex


def current_correlation_id() -> str | None:
    """The id of the run in progress, if any."""
    return _correlation.get()


@contextlib.contextmanager
def correlation(run_id: str | None = None) -> Iterator[str]:
    """Tag every event published inside the block (and tasks started in it) with one run id."""
    value = run_id or new_correlation_id()
    token = _correlation.set(value)
    try:
        yield value
    finally:
        _correlation.reset(token)


@dataclass(frozen=True)
class Topic(Generic[P]):
    """A topic name and the payload type its events carry (a TypedDict)."""

    name: str
    payload: type[P]

    def __post_init__(self) -> None:
        if not _TOPIC.match(self.name):
            raise ValueError(f"event topic {self.name!r} is not <component>.<resource>.<verb>")


@dataclass(frozen=True)
class Event:
    """Something that happened: `<component>.<resource>.<verb>` plus a JSON-safe payload."""

    topic: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    correlation_id: str | None = field(default_factory=current_correlation_id)
    #: the workspace the event belongs to (None: install-wide, such as a vault rotation)
    workspace: str | None = None

    def __post_init__(self) -> None:
        if not _TOPIC.match(self.topic):
            raise ValueError(f"event topic {self.topic!r} is not <component>.<resource>.<verb>")
        # Events are stored and sent to alert sinks: never let a secret in.
        object.__setattr__(self, "payload", redact(dict(self.payload)))

    @classmethod
    def of(cls, topic: Topic[P], payload: P, source: str = "", workspace: str | None = None) -> Event:
        """A typed event: the payload must match the topic's payload type."""
        return cls(topic=topic.name, payload=payload, source=source, workspace=workspace)

    @property
    def component(self) -> str:
        """The first part of the topic."""
        return self.topic.split(".", 1)[0]


Handler = Callable[[Event], Awaitable[None] | None]


class _Queue:
    """A subscriber that consumes from its own queue, so a slow sink never stalls a publisher."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def put(self, event: Event) -> None:
        self.queue.put_nowait(event)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._consume())

    async def _consume(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await EventBus._call(self.handler, event)
            except Exception as exc:
                _log.error("queued event handler failed on %s: %s", event.topic, exc, exc_info=exc)
            finally:
                self.queue.task_done()

    async def close(self) -> None:
        await self.queue.join()
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class EventBus:
    """Publish/subscribe with glob topic patterns (`dns.*`, `*.check.failed`)."""

    def __init__(self) -> None:
        self._subscriptions: list[tuple[str, Handler | _Queue]] = []

    def subscribe(self, pattern: str, handler: Handler, *, queued: bool = False) -> Callable[[], None]:
        """Call `handler` for every event whose topic matches `pattern`; returns unsubscribe.

        A queued handler (alert sinks: a 15 s SMTP timeout) runs from its own queue: publishing
        returns at once; `drain()` waits until it has caught up.
        """
        entry: tuple[str, Handler | _Queue] = (pattern, _Queue(handler) if queued else handler)
        self._subscriptions.append(entry)

        def unsubscribe() -> None:
            if entry in self._subscriptions:
                self._subscriptions.remove(entry)
            handler_or_queue = entry[1]
            # a queued handler's consumer would otherwise wait forever (one per monitoring run in a worker)
            if isinstance(handler_or_queue, _Queue) and handler_or_queue.task is not None:
                handler_or_queue.task.cancel()

        return unsubscribe

    async def publish(self, event: Event) -> None:
        """Deliver to every matching handler; a failing handler is logged, never raised."""
        matching = [h for p, h in list(self._subscriptions) if fnmatch.fnmatchcase(event.topic, p)]
        direct = [h for h in matching if not isinstance(h, _Queue)]
        for queue in (h for h in matching if isinstance(h, _Queue)):
            queue.put(event)
        results = await asyncio.gather(*(self._call(handler, event) for handler in direct), return_exceptions=True)
        for handler, result in zip(direct, results, strict=True):
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

    async def emit(self, topic: Topic[P], payload: P, source: str = "") -> Event:
        """Build a typed event and publish it in one call."""
        event = Event.of(topic, payload, source)
        await self.publish(event)
        return event

    async def drain(self) -> None:
        """Wait until every queued handler has handled what was published so far."""
        for _, handler in list(self._subscriptions):
            if isinstance(handler, _Queue):
                await handler.queue.join()

    async def close(self) -> None:
        """Drain and stop the queued handlers."""
        for _, handler in list(self._subscriptions):
            if isinstance(handler, _Queue):
                await handler.close()

    @staticmethod
    async def _call(handler: Handler, event: Event) -> None:
        result = handler(event)
        if inspect.isawaitable(result):
            await result

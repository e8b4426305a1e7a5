"""Many DNS questions on one socket per server, driven by the replies: no task, future or timer per query.

`Resolver.query` costs a task, a future and a timer per query and an event-loop iteration per
packet (asyncio's datagram transport reads one datagram per wake-up); for a blocklist run of
10,000 independent A lookups that overhead, not the network, was the bound (issue 22). Here a
`Channel` drains every datagram waiting on its socket in one wake-up, each reply is handled in that
callback, which sends the next question at once; one sweep timer expires the questions still
unanswered (attempts and server rotation as `Resolver._exchange`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

_HEADER = struct.Struct("!HHHHHH")
#: a reply with the TC bit: the caller asks again over TCP
TRUNCATED = b""


#: datagrams read per wake-up at most: other callbacks get their turn on a busy socket
DRAIN_LIMIT = 256


class Channel:
    """A connected, non-blocking UDP socket to one server; replies go to waiters by message id.

    Every query of a resolver to that server uses it: `Resolver._exchange` waits on a future in
    `futures`, a `Pipeline` registers a callback in `listeners`. One wake-up reads every datagram
    waiting (asyncio's datagram transport reads one per event-loop iteration).
    """

    def __init__(self, server: tuple[str, int], loop: asyncio.AbstractEventLoop) -> None:
        family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.futures: dict[int, asyncio.Future[bytes]] = {}
        self.listeners: dict[int, Callable[[bytes], None]] = {}
        self.closed = False
        self.loop = loop
        try:
            self.sock.setblocking(False)
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
            self.sock.connect(server)
            loop.add_reader(self.sock.fileno(), self._drain)
        except BaseException:
            self.sock.close()
            raise

    def send(self, data: bytes) -> None:
        """Send one question (OSError: a full buffer, or an ICMP error queued on the socket)."""
        self.sock.send(data)

    def taken(self, qid: int) -> bool:
        """True when a query in flight on this socket has the message id `qid`."""
        return qid in self.futures or qid in self.listeners

    def _drain(self) -> None:
        for _ in range(DRAIN_LIMIT):
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                # an ICMP error (port unreachable): every waiting query's attempt failed, as with
                # asyncio's error_received; a pipeline's questions are retried by its sweep
                self._fail(exc)
                continue
            if len(data) < 12:
                continue
            qid = int.from_bytes(data[:2], "big")
            future = self.futures.get(qid)
            if future is not None:
                if not future.done():
                    future.set_result(data)
                continue
            listener = self.listeners.get(qid)
            if listener is not None:
                listener(data)

    def _fail(self, exc: Exception) -> None:
        for future in self.futures.values():
            if not future.done():
                future.set_exception(exc)

    def close(self) -> None:
        """Stop reading and close the socket."""
        if not self.closed:
            self.closed = True
            alive = not self.loop.is_closed()  # the loop of an earlier asyncio.run may be gone
            if alive:
                self.loop.remove_reader(self.sock.fileno())
            self.sock.close()
            if alive:
                self._fail(ConnectionError("socket closed"))


@dataclass
class Counters:
    """Sent, retried and timed-out questions (added to the resolver's stats)."""

    queries: int = 0
    retries: int = 0
    timeouts: int = 0


@dataclass
class _Flight:
    index: int
    attempt: int
    channel: Channel
    deadline: float


class Pipeline:
    """Send `questions` (wire QNAME QTYPE QCLASS), `window` at a time; `run` returns each raw reply."""

    def __init__(
        self,
        questions: Sequence[bytes],
        channels: Sequence[Channel],
        *,
        window: int,
        attempts: int,
        attempt_timeout: Callable[[int], float],
        matches: Callable[[bytes, bytes], bool],
    ) -> None:
        self.questions = questions
        self.channels = channels
        self.window = max(1, window)
        self.attempts = attempts
        self.attempt_timeout = attempt_timeout
        self.matches = matches
        self.counters = Counters()
        #: index → the reply, None when every attempt timed out, TRUNCATED for TC
        self.replies: dict[int, bytes | None] = {}
        self._waiting: deque[tuple[int, int]] = deque((i, 0) for i in range(len(questions)))
        self._flights: dict[int, _Flight] = {}
        self._done: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self) -> list[bytes | None]:
        """Every question's reply, in order (None: no reply to any attempt)."""
        if not self.questions:
            return []
        self._loop = loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        # the sweep's period bounds how late a timeout is noticed: an eighth of the shortest wait
        period = self.attempt_timeout(0) / 8
        sweeper: asyncio.TimerHandle | None = None

        def sweep() -> None:
            nonlocal sweeper
            self._expire(loop.time())
            if not self._finished():
                sweeper = loop.call_later(period, sweep)

        try:
            self._send_more()
            sweeper = loop.call_later(period, sweep)
            if not self._finished():
                await self._done
        finally:
            if sweeper is not None:
                sweeper.cancel()
            for qid, flight in self._flights.items():
                flight.channel.listeners.pop(qid, None)
            self._flights.clear()
        return [self.replies.get(i) for i in range(len(self.questions))]

    def _finished(self) -> bool:
        if len(self.replies) < len(self.questions):
            return False
        if self._done is not None and not self._done.done():
            self._done.set_result(None)
        return True

    def _send_more(self) -> None:
        assert self._loop is not None
        while self._waiting and len(self._flights) < self.window:
            index, attempt = self._waiting.popleft()
            channel = self.channels[attempt % len(self.channels)]
            if channel.closed:
                self._give_up(index, attempt)
                continue
            qid = random.randrange(1, 65536)
            while qid in self._flights or channel.taken(qid):
                qid = random.randrange(1, 65536)
            deadline = self._loop.time() + self.attempt_timeout(attempt)
            self._flights[qid] = _Flight(index, attempt, channel, deadline)
            channel.listeners[qid] = self._received
            self.counters.queries += 1
            if attempt:
                self.counters.retries += 1
            with contextlib.suppress(OSError):  # lost: the sweep retries it
                channel.send(_HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + self.questions[index])

    def _received(self, wire: bytes) -> None:
        qid = int.from_bytes(wire[:2], "big")
        flight = self._flights.get(qid)
        if flight is None:
            return
        if not self.matches(wire, self.questions[flight.index]):
            # garbage, or a reply to someone else's question: that attempt is spent, as in _exchange
            self._lost(qid, timed_out=False)
        else:
            del self._flights[qid]
            flight.channel.listeners.pop(qid, None)
            self.replies[flight.index] = TRUNCATED if wire[2] & 0x02 else wire
        self._send_more()
        self._finished()

    def _lost(self, qid: int, *, timed_out: bool) -> None:
        flight = self._flights.pop(qid)
        flight.channel.listeners.pop(qid, None)
        if timed_out:
            self.counters.timeouts += 1
        if flight.attempt + 1 < self.attempts:
            self._waiting.appendleft((flight.index, flight.attempt + 1))
        else:
            self.replies[flight.index] = None

    def _give_up(self, index: int, attempt: int) -> None:
        # no usable socket for this server: the attempt counts as lost (the next server may do)
        if attempt + 1 < self.attempts:
            self._waiting.append((index, attempt + 1))
        else:
            self.replies[index] = None

    def _expire(self, now: float) -> None:
        for qid in [q for q, f in self._flights.items() if f.deadline <= now]:
            self._lost(qid, timed_out=True)
        self._send_more()

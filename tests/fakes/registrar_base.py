"""What the registrar fakes (porkbun.py, namecheap.py) share: money ledger, dated clock, call log, lost answers.

The pieces of sequencer_base.py are reused as they are (ManualClock, Faults, Limiter, LostAnswer,
Call); each registrar keeps its own wire format, auth and error bodies
(../shared/reference/registrars.md §1, §2). This module only runs the request: label → answer →
(lost answer: drop the connection or answer 500) → log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.fakes.http_server import Drop, FakeServer
from tests.fakes.sequencer_base import Call, Faults, Limiter, LostAnswer, ManualClock

Response = tuple[int, dict[str, str], bytes]
#: the registry date at the fixture's ManualClock start (dates move with `clock.advance`)
EPOCH = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CLOCK_START = ManualClock().now


def add_years(when: datetime, years: int) -> datetime:
    """The same day `years` later (29 February → 28 February)."""
    try:
        return when.replace(year=when.year + years)
    except ValueError:
        return when.replace(year=when.year + years, day=28)


@dataclass(frozen=True)
class RegistrarCall(Call):
    """One request: `path` is the URL path (Porkbun) or the `Command` (Namecheap), `outcome` the vendor's verdict.

    `outcome` is "SUCCESS"/"OK" or the error code/number: Namecheap answers errors with HTTP 200, so
    the status alone says nothing. Never a key, a secret or a query string.
    """

    outcome: str = ""


@dataclass(frozen=True)
class Charge:
    """Money taken from the prepaid balance for one order."""

    domain: str
    #: Porkbun: cents; Namecheap: the dollar amount as a string ("11.48")
    amount: str
    order_id: int


@dataclass
class FakeRegistrar:
    """Shared state; subclasses implement `label` and `answer`."""

    clock: ManualClock = field(default_factory=ManualClock)
    faults: Faults = field(default_factory=Faults)
    log: list[RegistrarCall] = field(default_factory=list)
    #: every order that took money, in order (one per successful registration)
    charges: list[Charge] = field(default_factory=list)
    url: str = ""
    #: hold every order after it is stored and charged until `resume` is set, then drop the answer:
    #: a test can kill -9 a real client (a CLI subprocess) while its purchase is in flight
    pause_orders: bool = False
    order_stored: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    _lock: threading.RLock = field(default_factory=threading.RLock)
    _limiter: Limiter | None = None
    _outcome: str = ""

    def now(self) -> datetime:
        """The registry's current time (EPOCH plus what the clock advanced)."""
        return EPOCH + timedelta(seconds=self.clock.now - CLOCK_START)

    @property
    def limiter(self) -> Limiter:
        """Sliding windows on the fake's clock."""
        if self._limiter is None:
            self._limiter = Limiter(lambda: self.clock())
        return self._limiter

    def calls(self, contains: str = "") -> list[RegistrarCall]:
        """Logged calls whose path/command contains `contains`."""
        return [c for c in self.log if contains in c.path]

    def charged(self, domain: str) -> list[Charge]:
        """The charges for one domain."""
        return [c for c in self.charges if c.domain == domain]

    def lose_answer(self) -> None:
        """Call right after an order was stored and charged: applies `pause_orders` and `faults.lose_next_creates`."""
        if self.pause_orders:
            self.order_stored.set()
            self.resume.wait(timeout=30)
            raise LostAnswer(500)
        if self.faults.lose_next_creates > 0:
            self.faults.lose_next_creates -= 1
            raise LostAnswer(500)

    def random_fault(self) -> int | None:
        """A seeded 5xx (or the next scripted status) before anything happens, else None."""
        if self.faults.next_statuses:
            return self.faults.next_statuses.pop(0)
        if self.faults.error_rate and self.faults.rng.random() < self.faults.error_rate:
            return self.faults.error_status
        return None

    # hooks -----------------------------------------------------------------------------------
    def label(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> str:
        """What the log shows for this request."""
        raise NotImplementedError

    def answer(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        """The response; set `self._outcome`; may raise LostAnswer after storing an order."""
        raise NotImplementedError

    def server_error(self, status: int) -> Response:
        """What a 5xx looks like (a proxy's HTML page)."""
        text = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
        return status, {"Content-Type": "text/html"}, text.encode()

    # plumbing --------------------------------------------------------------------------------
    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        with self._lock:
            shown = self.label(method, path, query, body)
            self._outcome = ""
            try:
                response = self.answer(method, path, query, headers, body)
            except LostAnswer as lost:
                if self.faults.lost_as == "drop":
                    self.log.append(RegistrarCall(method, shown, 0, lost=True, outcome=self._outcome))
                    raise Drop from None
                response = self.server_error(lost.status)
                self._outcome = str(lost.status)
            self.log.append(RegistrarCall(method, shown, response[0], outcome=self._outcome))
            return response

    def serve(self) -> FakeServer:
        """A loopback server for this fake (enter it to start)."""
        return FakeServer(self)

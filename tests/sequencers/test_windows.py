"""The sequencers' client-side budget counts requests as the vendors do, by arrival: a request's slot is held
from sending until a window after its answer, so no delay on the way puts more than the limit in a window."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from email_infrastructure.sequencers.common import SlidingWindow, windows
from tests.fakes.sequencer_base import ManualClock


def sleeper(clock: ManualClock) -> Callable[[float], Awaitable[None]]:
    """A sleep that lets time pass on `clock` at once."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)

    return sleep


async def test_a_slot_is_held_until_a_window_after_the_answer() -> None:
    clock = ManualClock(0.0)
    window = SlidingWindow(2, 1.0, clock=clock)
    await window.acquire(sleeper(clock))  # sent at 0
    await window.acquire(sleeper(clock))  # sent at 0
    clock.advance(0.4)
    window.release()  # the first answer, at 0.4: it arrived at most then
    clock.advance(0.4)
    window.release()  # the second, at 0.8
    await window.acquire(sleeper(clock))
    # not at 1.0, a window after sending: at 1.4, a window after the first answer
    assert clock() == 1.4


async def test_without_answers_stamps_expire_as_sent() -> None:
    clock = ManualClock(0.0)
    limits = windows((2, 1.0), (3, 10.0), clock=clock)
    for _ in range(3):
        await limits.acquire(sleeper(clock))
    # the second window (3 per 10 s) holds the fourth until the first send leaves it
    await limits.acquire(sleeper(clock))
    assert clock() == 10.0

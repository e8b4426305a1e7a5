"""Client-side sliding windows (sequencers, registrars) count requests as the vendors do, by arrival: a request's
slot is held from sending until a window after its answer, so no delay on the way puts more than the limit in a
window."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from email_infrastructure.core.http import SlidingWindow, windows
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


async def test_a_budget_beside_the_clients_own_is_held_until_the_answer() -> None:
    # Porkbun's checkDomain budget (1 per second here) wraps a call that takes 0.7 s to answer
    clock = ManualClock(0.0)
    checks = windows((1, 1.0), clock=clock)
    async with checks.held(sleeper(clock)):
        clock.advance(0.7)
    async with checks.held(sleeper(clock)):
        pass
    assert clock() == 1.7  # a window after the first answer, not after its sending


async def test_a_call_that_fails_still_gives_its_slot_back_at_the_answer() -> None:
    clock = ManualClock(0.0)
    checks = windows((1, 1.0), clock=clock)

    async def call_that_times_out() -> None:
        async with checks.held(sleeper(clock)):
            clock.advance(0.2)
            raise TimeoutError

    with pytest.raises(TimeoutError):
        await call_that_times_out()
    await checks.acquire(sleeper(clock))
    assert clock() == 1.2

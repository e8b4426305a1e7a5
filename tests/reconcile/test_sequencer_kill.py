"""kill -9 during the sequencer step: no duplicate account at the platform, one event per account.

The Instantly fake holds the answer to one account create — after storing the account (the
process dies without hearing it was made) or before (it never was) — while the test kills the
`email-infra apply` process; then a run to the end.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord, SequencerAccountRecord
from tests.fakes.instantly import FakeInstantly
from tests.fakes.mailcow import FakeMailcow
from tests.fakes.sequencer_base import Response
from tests.fakes.smartlead import FakeSmartlead
from tests.fixtures.kills import kill_apply_when
from tests.reconcile.test_sequencer_step import DOMAINS, PER_DOMAIN, inventory
from tests.sequencers.conftest import smartlead
from tests.services.conftest import WriteInventory, write_inventory

__all__ = ["smartlead", "write_inventory"]  # fixtures, used here


@dataclass
class HoldingInstantly(FakeInstantly):
    """The faithful fake, able to hold the answer to its `hold_at`-th account create until released."""

    hold_at: int = 0
    carried_out: bool = True
    seen: int = 0
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def __call__(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], body: bytes
    ) -> Response:
        if method == "POST" and path == "/api/v2/accounts" and self.hold_at:
            self.seen += 1
            if self.seen == self.hold_at:
                answer = super().__call__(method, path, query, headers, body) if self.carried_out else (503, {}, b"")
                self.held.set()
                self.release.wait(60)
                return answer
        return super().__call__(method, path, query, headers, body)


@pytest.fixture
def instantly() -> Iterator[HoldingInstantly]:
    fake = HoldingInstantly()
    with fake.serve() as server:
        fake.url = server.url
        yield fake
    fake.release.set()


#: (nth create of the run, carried out before the kill)
KILLS = [(2, True), (3, False), (1, True)]


async def test_kills_during_the_sequencer_step_leave_no_duplicate_and_one_event_per_account(
    app: App,
    write_inventory: WriteInventory,
    mailcow: tuple[FakeMailcow, str],
    instantly: HoldingInstantly,
    smartlead: FakeSmartlead,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INST_KEY", instantly.token)
    monkeypatch.setenv("SL_KEY", smartlead.token)
    instantly.limits = smartlead.limits = ()
    source = write_inventory(inventory(mailcow[1], instantly, smartlead))
    for nth, carried_out in KILLS:
        instantly.held.clear()
        instantly.release.clear()
        instantly.hold_at, instantly.carried_out, instantly.seen = nth, carried_out, 0
        try:
            await kill_apply_when(app, source.path, instantly.held, what=f"create {nth}")
        finally:
            instantly.hold_at = 0
            instantly.release.set()

    applied = await plans.apply(app, source=source)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert not (await plans.plan(app)).has_changes

    assert len(instantly.accounts) == len(DOMAINS) * PER_DOMAIN
    # the creates whose answer died with the process were found by the next plan, never sent again
    assert len(instantly.calls("POST", "/api/v2/accounts")) == len(DOMAINS) * PER_DOMAIN
    async with app.uow() as uow:
        events = (
            await uow.session.scalars(select(EventRecord).where(EventRecord.topic.like("sequencer.account.%")))
        ).all()
        intents = (await uow.session.scalars(select(EventIntent))).all()
        rows = (await uow.session.scalars(select(SequencerAccountRecord))).all()
    logged = Counter((e.topic, e.payload["address"], e.payload["sequencer"]) for e in events)
    assert {k: n for k, n in logged.items() if n != 1} == {}
    assert {a for (t, a, s) in logged if t == "sequencer.account.created" and s == "inst"} == set(instantly.accounts)
    assert not [t for (t, _a, _s) in logged if t in ("sequencer.account.adopted", "sequencer.account.failed")]
    assert intents == []
    assert all(r.created_by_us for r in rows) and len(rows) == 2 * len(DOMAINS) * PER_DOMAIN

"""A run killed between a provider write and its event: the audit log still gets each change once."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from tests.services.conftest import WriteInventory


class Killed(BaseException):
    """Stands for kill -9: no except-clause for Exception catches it, nothing after it runs."""


async def _logged(app: App) -> Counter[tuple[str, str, str]]:
    async with app.uow() as uow:
        rows = await uow.events.recent(limit=10_000, topic_prefix="dns.record.")
    return Counter((r.topic, r.payload["name"], r.payload["type"]) for r in rows)


@pytest.mark.parametrize("when", ["after the provider write", "before the provider write"])
async def test_each_change_is_logged_exactly_once_across_a_kill(
    app: App, write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    original = ZonefileProvider.apply_changes

    async def dying(self: ZonefileProvider, zone: str, changes: list[Any]) -> None:
        if when == "after the provider write":
            await original(self, zone, changes)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(ZonefileProvider, "apply_changes", dying)
        with pytest.raises(Killed):
            await plans.apply(app, source=write_inventory())
    async with app.uow() as uow:
        scopes = [f"dns:local:{z}" for z in ("acme-outreach.test", "acme-mail.test")]
        pending = [e for s in scopes for e in await uow.intents.pending(s)]
    assert pending, "the intents were written before the provider call"

    again = await plans.apply(app, source=write_inventory())
    assert not again.failed
    logged = await _logged(app)
    assert sum(logged.values()) == 25, logged
    assert set(logged.values()) == {1}  # no change logged twice
    async with app.uow() as uow:
        assert [e for s in scopes for e in await uow.intents.pending(s)] == []
    assert not (await plans.plan(app)).has_changes

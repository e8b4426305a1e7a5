"""A run killed between a provider write and its event: the audit log still gets each change once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.settings import Settings
from email_infrastructure.dns.providers.zonefile import ZonefileProvider
from email_infrastructure.services import plans
from email_infrastructure.services.app import App, open_app
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


async def test_dkim_keys_generated_before_a_kill_are_kept(
    app: App, write_inventory: WriteInventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import threading

    from email_infrastructure.core import rsa_keys, secret_names
    from email_infrastructure.reconcile import dkim_step
    from tests.services.conftest import two_domains

    names = ["a1.test", "a2.test", "a3.test", "a4.test"]
    text = two_domains(names[0], names[1]) + "".join(f"  - name: {n}\n" for n in names[2:])
    wanted = [secret_names.dkim_key(d, "dkim") for d in names]
    three_stored = threading.Event()
    calls = 0
    lock = threading.Lock()
    real = rsa_keys.generate_keypair

    def last_one_dies(bits: int = 2048) -> tuple[str, str]:
        nonlocal calls
        with lock:
            calls += 1
            mine = calls
        if mine == len(names):
            three_stored.wait(60)  # the kill comes once the others are done
            raise Killed
        return real(bits)

    async def watch() -> None:
        while True:
            async with app.uow() as uow:
                if len(await uow.secrets().get_many(wanted)) >= len(names) - 1:
                    three_stored.set()
                    return
            await asyncio.sleep(0.05)

    with monkeypatch.context() as patch:
        patch.setattr(dkim_step, "generate_keypair", last_one_dies)
        watcher = asyncio.ensure_future(watch())
        with pytest.raises(Killed):
            await plans.apply(app, source=write_inventory(text))
        await asyncio.wait_for(watcher, 60)
    async with app.uow() as uow:
        kept = await uow.secrets().get_many(wanted)
    assert len(kept) == len(names) - 1  # each key was stored as soon as it was generated

    again = await plans.apply(app, source=write_inventory(text))
    assert not again.failed
    async with app.uow() as uow:
        after = await uow.secrets().get_many(wanted)
    assert len(after) == len(names)
    assert all(after[k] == v for k, v in kept.items())  # the kept keys were not generated anew


def test_keys_are_generated_in_one_process_across_event_loops(settings: Settings, tmp_path: Path) -> None:
    """Each command (or benchmark phase) may run its own loop: nothing may stay bound to the first."""
    import asyncio
    import os

    from email_infrastructure.core.inventory import load_inventory
    from email_infrastructure.reconcile.registry import provider_schemas
    from tests.services.conftest import two_domains

    async def once(first: str, second: str, name: str) -> int:
        path = tmp_path / name
        # more keys than cores, so that generation waits on its semaphore in each loop
        extra = "".join(f"  - name: {first.split('.')[0]}-{n}.test\n" for n in range((os.cpu_count() or 2) + 1))
        path.write_text(two_domains(first, second) + extra)
        async with open_app(settings.model_copy(update={"data_dir": tmp_path / f"data-{name}"})) as app:
            result = await plans.apply(app, source=load_inventory(path, provider_schemas()))
        return len(result.failed)

    assert asyncio.run(once("l1.test", "l2.test", "one.yaml")) == 0
    assert asyncio.run(once("l3.test", "l4.test", "two.yaml")) == 0

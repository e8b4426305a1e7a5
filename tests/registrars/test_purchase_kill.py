"""kill -9 of `email-infra apply --buy` while the registrar holds the order it has stored and charged:
the re-run finds the domain in the account, logs the purchase once and never orders again."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord
from tests.fakes.porkbun import FakePorkbun
from tests.fixtures.kills import kill_apply_when
from tests.registrars.test_reconcile import inventory


async def test_kill_during_a_purchase_then_rerun_one_domain_one_event_one_charge(
    app: App, porkbun: FakePorkbun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PB_TEST_KEY", porkbun.apikey)
    monkeypatch.setenv("PB_TEST_SECRET", porkbun.secretapikey)
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(porkbun.url, "  - {name: coldmail-1.com, register: {max_price: 12}}"), encoding="utf-8")
    porkbun.pause_orders = True
    try:
        await kill_apply_when(app, path, porkbun.order_stored, "--buy", what="the order")
    finally:
        porkbun.pause_orders = False
        porkbun.resume.set()

    async with app.uow() as uow:
        pending = (await uow.session.scalars(select(EventIntent))).all()
    assert len(pending) == 1  # the purchase's intent, written before the order, outlived the process

    applied = await plans.apply(app, source=load_inventory(path, provider_schemas()), buy=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert not (await plans.plan(app)).has_changes
    assert [c.domain for c in porkbun.charges] == ["coldmail-1.com"]
    assert len(porkbun.calls("domain/create")) == 1
    assert porkbun.nameservers["coldmail-1.com"] == ["ns1.quickstart.test", "ns2.quickstart.test"]
    async with app.uow() as uow:
        bought = (
            await uow.session.scalars(select(EventRecord).where(EventRecord.topic == "registrar.domain.registered"))
        ).all()
        intents = (await uow.session.scalars(select(EventIntent))).all()
    assert [(e.payload["domain"], e.payload["price"]) for e in bought] == [("coldmail-1.com", "11.08")]
    assert intents == []

"""Buying and delegating domains through plan/apply (issue 26 item 3), against the loopback fakes.

The plan shows each purchase's price and the total and buys nothing; `apply --buy` buys the whole
set once when it is within `max_price` and the budget, else nothing; premium names are never
bought; a lost answer is looked up, never ordered twice; then the delegation is set and read back.
Every test runs on SQLite and PostgreSQL (the `app` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from email_infrastructure.core.inventory import LoadedInventory, load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import plans
from email_infrastructure.services.app import App
from email_infrastructure.storage.models import EventIntent, EventRecord
from tests.fakes.namecheap import FakeNamecheap
from tests.fakes.porkbun import FakePorkbun

NS = ["ns1.quickstart.test", "ns2.quickstart.test"]
#: `write(domains, defaults="", namecheap_url="")` → the inventory file written and loaded
Write = Callable[..., LoadedInventory]


def inventory(porkbun_url: str, domains: str, defaults: str = "", namecheap_url: str = "") -> str:
    """Zone files for DNS; Porkbun (and Namecheap) at the fakes."""
    namecheap = (
        f"""
    nc:
      type: namecheap
      api_user: ncuser
      api_key: env:NC_TEST_KEY
      client_ip: 127.0.0.1
      api_url: "{namecheap_url}"
      contact: {{first_name: Ann, last_name: Lee, address1: 1 Main St, city: Springfield, state_province: IL,
                postal_code: "62701", country: US, phone: "+1.5555550100", email: ann@example.net}}"""
        if namecheap_url
        else ""
    )
    return f"""
version: 1
providers:
  dns:
    local: {{type: zonefile, directory: zones, nameservers: [ns1.quickstart.test., ns2.quickstart.test.]}}
  registrars:
    pb: {{type: porkbun, apikey: env:PB_TEST_KEY, secretapikey: env:PB_TEST_SECRET, api_url: "{porkbun_url}"}}{namecheap}
servers:
  - {{name: mx1, hostname: mail.example.net, ipv4: 127.0.0.10}}
defaults:
  dns_provider: local
  server: mx1
  registrar: pb
{defaults}
domains:
{domains}
"""


TWO = "  - {name: coldmail-1.com, register: {max_price: 12}}\n  - {name: coldmail-2.com, register: {max_price: 12}}"


@pytest.fixture
def write(tmp_path: Path, porkbun: FakePorkbun, monkeypatch: pytest.MonkeyPatch) -> Write:
    """`write(domains, defaults="")` → the inventory file at the Porkbun fake, loaded."""
    monkeypatch.setenv("PB_TEST_KEY", porkbun.apikey)
    monkeypatch.setenv("PB_TEST_SECRET", porkbun.secretapikey)
    porkbun.create_attempts = (100, 1.0)  # the fake's clock stands still: one attempt a second would refuse the 2nd

    def go(domains: str, defaults: str = "", namecheap_url: str = "") -> LoadedInventory:
        path = tmp_path / "inventory.yaml"
        path.write_text(inventory(porkbun.url, domains, defaults, namecheap_url), encoding="utf-8")
        return load_inventory(path, provider_schemas())

    return go


async def _events(app: App, topic: str) -> list[EventRecord]:
    async with app.uow() as uow:
        return list((await uow.session.scalars(select(EventRecord).where(EventRecord.topic == topic))).all())


async def _intents(app: App) -> list[EventIntent]:
    async with app.uow() as uow:
        return list((await uow.session.scalars(select(EventIntent))).all())


async def test_the_plan_shows_prices_and_the_total_and_buys_nothing(
    app: App, write: Write, porkbun: FakePorkbun
) -> None:
    planned = await plans.plan(app, source=write(TWO))
    steps = {s.key: s for s in planned.graph.steps}
    buy = steps["registrar.domain:coldmail-1.com"]
    assert buy.changes[0].action == "create" and buy.changes[0].new["price"] == "11.08"
    assert "(11.08 USD)" in buy.changes[0].resource
    assert any("needs --buy" in n for n in buy.notes)
    data = planned.to_json()
    assert data["purchases"]["total"] == "22.16" and data["purchases"]["allowed"] is False
    assert [p["domain"] for p in data["purchases"]["domains"]] == ["coldmail-1.com", "coldmail-2.com"]
    # the domain's other steps wait for the purchase
    assert "registrar.domain:coldmail-1.com" in steps["dns.zone:coldmail-1.com"].depends_on
    assert steps["registrar.nameservers:coldmail-1.com"].changes[0].new == NS
    assert not porkbun.charges and not porkbun.calls("domain/create")


async def test_apply_without_buy_buys_nothing_and_writes_nothing_for_the_domain(
    app: App, write: Write, porkbun: FakePorkbun
) -> None:
    applied = await plans.apply(app, source=write(TWO))
    outcomes = {o.key: o for o in applied.outcomes}
    assert outcomes["registrar.domain:coldmail-1.com"].status == "failed"
    assert "needs --buy" in (outcomes["registrar.domain:coldmail-1.com"].error or "")
    assert outcomes["dns.zone:coldmail-1.com"].status == "skipped"
    assert not (app.settings.data_dir / "zones" / "coldmail-1.com.zone").exists()
    assert not porkbun.charges and not porkbun.calls("domain/create")


async def test_apply_buy_within_the_caps_buys_each_once_then_delegates(
    app: App, write: Write, porkbun: FakePorkbun
) -> None:
    source = write(TWO, "  register_budget: 30")
    applied = await plans.apply(app, source=source, buy=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert sorted(c.domain for c in porkbun.charges) == ["coldmail-1.com", "coldmail-2.com"]
    assert porkbun.nameservers["coldmail-1.com"] == NS
    bought = await _events(app, "registrar.domain.registered")
    assert sorted((e.payload["domain"], e.payload["price"]) for e in bought) == [
        ("coldmail-1.com", "11.08"),
        ("coldmail-2.com", "11.08"),
    ]
    assert all(e.payload["order_id"] for e in bought)
    assert len(await _events(app, "registrar.nameservers.updated")) == 2
    assert await _intents(app) == []
    again = await plans.apply(app, buy=True)
    assert not again.plan.has_changes and len(porkbun.charges) == 2


@pytest.mark.parametrize(
    ("domains", "defaults", "why"),
    [
        (TWO, "  register_budget: 20", "the purchases total 22.16, over the budget 20"),
        (
            TWO.replace("max_price: 12}}\n", "max_price: 10}}\n", 1),
            "",
            "coldmail-1.com costs 11.08, over its max_price 10",
        ),
        (
            TWO.replace(", register: {max_price: 12}", ", register: {}"),
            "",
            "has no max_price and the run has no budget",
        ),
    ],
)
async def test_over_a_cap_nothing_is_bought_and_the_plan_says_why(
    app: App, write: Write, porkbun: FakePorkbun, domains: str, defaults: str, why: str
) -> None:
    applied = await plans.apply(app, source=write(domains, defaults), buy=True)
    errors = [o.error or "" for o in applied.outcomes if o.key.startswith("registrar.domain:")]
    assert len(errors) == 2 and all(why in e and "no domain is bought" in e for e in errors), errors
    assert not porkbun.charges and not porkbun.calls("domain/create")
    assert why in (applied.plan.purchases.reason if applied.plan.purchases else "")


async def test_a_budget_given_for_the_run_replaces_the_inventorys(app: App, write: Write, porkbun: FakePorkbun) -> None:
    applied = await plans.apply(app, source=write(TWO, "  register_budget: 20"), buy=True, budget=Decimal("25"))
    assert not applied.failed and len(porkbun.charges) == 2


async def test_a_balance_too_low_refuses_the_whole_set(app: App, write: Write, porkbun: FakePorkbun) -> None:
    porkbun.balance = 1500
    applied = await plans.apply(app, source=write(TWO, "  register_budget: 30"), buy=True)
    assert applied.plan.purchases is not None and "holds 15.00" in applied.plan.purchases.reason
    assert not porkbun.charges


async def test_premium_and_taken_names_are_never_bought(app: App, write: Write, porkbun: FakePorkbun) -> None:
    porkbun.premium["cash.com"] = 5_000
    porkbun.premium_by_api = True  # even where the registrar would sell it by API
    porkbun.taken.add("taken-1.com")
    domains = "  - {name: cash.com, register: {max_price: 100}}\n  - {name: taken-1.com, register: {max_price: 100}}"
    planned = await plans.plan(app, source=write(domains))
    errors = {s.key: s.error or "" for s in planned.graph.steps}
    assert "premium name" in errors["registrar.domain:cash.com"] and "50.00" in errors["registrar.domain:cash.com"]
    assert "not available" in errors["registrar.domain:taken-1.com"]
    assert "cannot be planned" in errors["dns.zone:cash.com"]
    await plans.apply(app, source=write(domains), buy=True)
    assert not porkbun.charges


async def test_a_lost_answer_is_looked_up_and_logged_once(app: App, write: Write, porkbun: FakePorkbun) -> None:
    porkbun.faults.lose_next_creates = 1
    applied = await plans.apply(app, source=write("  - {name: coldmail-1.com, register: {max_price: 12}}"), buy=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert len(porkbun.calls("domain/create")) == 1 and len(porkbun.charges) == 1
    (bought,) = await _events(app, "registrar.domain.registered")
    assert bought.payload["price"] == "11.08" and bought.payload["order_id"] is None
    assert await _intents(app) == []


async def test_a_domain_registered_already_is_delegated_only(app: App, write: Write, porkbun: FakePorkbun) -> None:
    porkbun.add_domain("owned-1.com")
    porkbun.add_domain("moved-in.com", api_access=False)
    applied = await plans.apply(
        app, source=write("  - name: owned-1.com\n  - name: moved-in.com\n  - name: nowhere-1.com")
    )
    outcomes = {o.key: o for o in applied.outcomes}
    assert outcomes["registrar.domain:owned-1.com"].status == "unchanged"
    assert outcomes["registrar.nameservers:owned-1.com"].status == "applied"
    assert porkbun.nameservers["owned-1.com"] == NS
    assert "API Access" in (outcomes["registrar.nameservers:moved-in.com"].error or "")
    assert "not in the account" in (outcomes["registrar.domain:nowhere-1.com"].error or "")
    # a domain not bought here keeps its DNS steps: only its delegation cannot be planned
    assert outcomes["dns.zone:nowhere-1.com"].status == "applied"
    assert not porkbun.charges


async def test_a_plan_lists_the_registrar_account_once_not_each_domain(
    app: App, write: Write, porkbun: FakePorkbun
) -> None:
    for n in range(5):
        porkbun.add_domain(f"owned-{n}.com")
    planned = await plans.plan(app, source=write("\n".join(f"  - name: owned-{n}.com" for n in range(5))))
    steps = {s.key: s for s in planned.graph.steps}
    assert all(steps[f"registrar.domain:owned-{n}.com"].error is None for n in range(5))
    assert len(porkbun.calls("domain/listAll")) == 1 and not porkbun.calls("domain/get/")
    assert len(porkbun.calls("domain/getNs")) == 5  # each delegation is still read where the registrar keeps it


async def test_namecheap_purchases_sit_beside_porkbuns(
    app: App, write: Write, porkbun: FakePorkbun, namecheap: FakeNamecheap, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NC_TEST_KEY", namecheap.api_key)
    domains = "  - {name: coldmail-1.com, register: {max_price: 12}}\n  - {name: coldmail-3.com, registrar: nc, register: {years: 2, max_price: 40}}"
    applied = await plans.apply(app, source=write(domains, namecheap_url=namecheap.url), buy=True)
    assert not applied.failed, [(o.key, o.error) for o in applied.failed]
    assert applied.plan.purchases is not None and applied.plan.purchases.total == Decimal("11.08") + Decimal("30.16")
    assert [c.amount for c in namecheap.charges] == ["30.1600"]
    assert namecheap.nameservers("coldmail-3.com") == NS
    step = next(s for s in applied.plan.graph.steps if s.key == "registrar.domain:coldmail-3.com")
    assert any("no API to switch auto-renew" in n for n in step.notes)

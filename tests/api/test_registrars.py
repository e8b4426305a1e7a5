"""`GET /api/v1/registrars/quote` (read scope) and `POST /api/v1/plans/{id}/buy` (admin scope only): a plan's
purchases are made through the apply path, each an audit event with its price; a write key cannot buy."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import Api
from tests.fakes.porkbun import FakePorkbun
from tests.registrars.conftest import porkbun
from tests.registrars.test_reconcile import TWO, inventory

__all__ = ["porkbun"]  # the fake's fixture, used here


async def poll(api: Api, job_id: str) -> dict[str, Any]:
    """The job once finished; polled in turn with each key (a purchase waits out Porkbun's 1 order/s,
    longer than one key's 60 reads a minute last at test_plans' pace)."""
    keys = itertools.cycle(("read", "write", "admin"))
    for _ in range(300):
        response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth(next(keys)))
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.4)
    raise AssertionError(f"job {job_id} did not finish")


@pytest.fixture
async def stored(api: Api, porkbun: FakePorkbun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desired state: two domains to buy at the Porkbun fake, a budget of 30."""
    monkeypatch.setenv("PB_TEST_KEY", porkbun.apikey)
    monkeypatch.setenv("PB_TEST_SECRET", porkbun.secretapikey)
    porkbun.create_attempts = (100, 1.0)
    path = tmp_path / "inventory.yaml"
    path.write_text(inventory(porkbun.url, TWO, "  register_budget: 30"), encoding="utf-8")
    await import_inventory(api.app, load_inventory(path, provider_schemas()))


async def test_quote_with_a_read_key_buys_nothing(api: Api, porkbun: FakePorkbun, stored: None) -> None:
    porkbun.premium["cash.com"] = 250_000
    response = await api.client.get(
        "/api/v1/registrars/quote", params={"domain": ["coldmail-9.com", "cash.com"]}, headers=api.auth()
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["registrar"] == "pb" and data["type"] == "porkbun"
    assert [(q["domain"], q["price"], q["premium"]) for q in data["quotes"]] == [
        ("coldmail-9.com", "11.08", False),
        ("cash.com", "2500.00", True),
    ]
    unknown = await api.client.get(
        "/api/v1/registrars/quote", params={"domain": "a.com", "registrar": "nope"}, headers=api.auth()
    )
    assert unknown.status_code == 404 and "no registrar named 'nope'" in unknown.text
    assert porkbun.secretapikey not in response.text and not porkbun.charges


async def test_buying_is_the_apply_path_for_admin_keys_only(api: Api, porkbun: FakePorkbun, stored: None) -> None:
    plan = (await api.client.post("/api/v1/plans", headers=api.auth("read"))).json()["data"]
    assert plan["plan"]["purchases"]["total"] == "22.16" and plan["plan"]["purchases"]["allowed"] is False
    refused = await api.client.post(f"/api/v1/plans/{plan['id']}/buy", headers=api.auth("write"))
    assert refused.status_code == 403 and not porkbun.charges
    plain = await api.client.post(f"/api/v1/plans/{plan['id']}/apply", headers=api.auth("write"))
    assert (await poll(api, plain.json()["data"]["id"]))["status"] == "failed" and not porkbun.charges
    started = await api.client.post(f"/api/v1/plans/{plan['id']}/buy", headers=api.auth("admin"))
    assert started.status_code == 202, started.text
    assert started.json()["data"]["params"]["buy"] is True
    done = await poll(api, started.json()["data"]["id"])
    assert done["status"] == "succeeded", done
    assert sorted(c.domain for c in porkbun.charges) == ["coldmail-1.com", "coldmail-2.com"]
    events = (await api.client.get("/api/v1/events?topic=registrar.domain.registered", headers=api.auth())).json()[
        "data"
    ]["items"]
    assert sorted((e["payload"]["domain"], e["payload"]["price"]) for e in events) == [
        ("coldmail-1.com", "11.08"),
        ("coldmail-2.com", "11.08"),
    ]

"""`/api/v1/changes`: the dashboard's change flow over the API: preview (the plan, nothing written), then
the confirmed change written and applied as a job; a moved preview 409, another owner's domain 409."""

from __future__ import annotations

from typing import Any

from email_infrastructure.services.desired import import_inventory, load_snapshot
from email_infrastructure.services.domains import update_domain
from tests.api.conftest import Api
from tests.api.test_plans import poll
from tests.services.conftest import WriteInventory

ADD: dict[str, Any] = {
    "action": "add",
    "domain": "new-brand.test",
    "mailboxes": [{"first_name": "Ann", "last_name": "Park"}, {"first_name": "Ben", "last_name": "Ruiz"}],
    "dmarc_policy": "quarantine",
}


async def _domains(api: Api) -> dict[str, Any]:
    return {name: (item.value, item.owner) for name, item in (await load_snapshot(api.app)).domains.items()}


async def test_a_previewed_domain_is_confirmed_written_and_applied(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    before = await _domains(api)
    shown = await api.client.post("/api/v1/changes/preview", json=ADD, headers=api.auth("write"))
    assert shown.status_code == 200, shown.text
    data = shown.json()["data"]
    assert data["domain"] == "new-brand.test" and data["added"] == [
        "ann.park@new-brand.test",
        "ben.ruiz@new-brand.test",
    ]
    assert {s["key"] for s in data["plan"]["steps"]} == {"dkim.key:new-brand.test", "dns.zone:new-brand.test"}
    assert await _domains(api) == before  # a preview writes nothing
    body = {**ADD, "stamp": data["stamp"], "checksum": data["checksum"]}
    done = await api.client.post("/api/v1/changes", json=body, headers=api.auth("write"))
    assert done.status_code == 202, done.text
    job = await poll(api, done.json()["data"]["job"]["id"])
    assert job["status"] == "succeeded", job
    value, owner = (await _domains(api))["new-brand.test"]
    assert owner == "api" and value["dmarc"]["policy"] == "quarantine"


async def test_a_read_key_a_moved_preview_and_a_files_domain_are_refused(
    api: Api, write_inventory: WriteInventory
) -> None:
    await import_inventory(api.app, write_inventory())
    assert (await api.client.post("/api/v1/changes/preview", json=ADD, headers=api.auth("read"))).status_code == 403
    owned = {"action": "update", "domain": "acme-mail.test", "dmarc_policy": "reject"}
    refused = await api.client.post("/api/v1/changes/preview", json=owned, headers=api.auth("write"))
    assert refused.status_code == 409 and "owned by file:" in refused.text
    await api.client.post("/api/v1/domains", json={"name": "own-brand.test"}, headers=api.auth("write"))
    change = {"action": "update", "domain": "own-brand.test", "dmarc_policy": "reject"}
    shown = (await api.client.post("/api/v1/changes/preview", json=change, headers=api.auth("write"))).json()["data"]
    await update_domain(api.app, "own-brand.test", {"redirect": "https://elsewhere.test"})
    before = await _domains(api)
    body = {**change, "stamp": shown["stamp"], "checksum": shown["checksum"]}
    stale = await api.client.post("/api/v1/changes", json=body, headers=api.auth("write"))
    assert stale.status_code == 409 and "preview it again" in stale.text
    assert await _domains(api) == before

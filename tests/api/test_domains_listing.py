"""The listing's hand-assembled body is exactly what the schema's models serialise, and never stale."""

from __future__ import annotations

from email_infrastructure.api.schemas import DomainList, DomainOut, ok
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory


async def test_body_is_the_models_serialisation(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    before = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["total"]
    write = api.auth("write")
    for name in ("zzb.test", "zza.test", "zzc.test"):  # after the inventory's domains by name
        body = {
            "name": name,
            "mailboxes": [{"first_name": "Zoe", "last_name": "Q"}, {"first_name": "Al", "last_name": "B"}],
        }
        assert (await api.client.post("/api/v1/domains", headers=write, json=body)).status_code == 201
    await record_results(api.app, [("zzb.test", "spf", "warning", {}, "soft")])
    response = await api.client.get(f"/api/v1/domains?limit=2&offset={before + 1}", headers=api.auth())
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert "ratelimit-limit" in response.headers
    data = response.json()["data"]
    expected = ok(
        DomainList(items=[DomainOut(**i) for i in data["items"]], total=data["total"], limit=2, offset=before + 1)
    )
    assert response.content == expected.model_dump_json().encode()  # byte for byte, as FastAPI would have sent
    names = [i["name"] for i in data["items"]]
    assert (
        names == ["zzb.test", "zzc.test"] and data["total"] == before + 3
    )  # paged by name; the total counts every match
    assert data["items"][0]["status"] == "warning" and data["items"][1]["status"] == "unknown"
    assert data["items"][0]["mailboxes"] == ["al.b@zzb.test", "zoe.q@zzb.test"]  # mailboxes by local part


async def test_status_and_mailbox_changes_show_at_once(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    write = api.auth("write")
    assert (await api.client.post("/api/v1/domains", headers=write, json={"name": "s.test"})).status_code == 201
    first = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["items"]
    mine = next(i for i in first if i["name"] == "s.test")
    assert mine["status"] == "unknown" and mine["mailboxes"] == []
    await record_results(api.app, [("s.test", "dkim", "error", {}, "no key")])
    put = {"options": {}, "mailboxes": [{"first_name": "Dee", "last_name": "Ray"}]}
    assert (await api.client.put("/api/v1/domains/s.test", headers=write, json=put)).status_code == 200
    again = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["items"]
    mine = next(i for i in again if i["name"] == "s.test")
    assert mine["status"] == "error" and mine["mailboxes"] == ["dee.ray@s.test"]


async def test_past_the_end_keeps_the_total(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    assert (
        await api.client.post("/api/v1/domains", headers=api.auth("write"), json={"name": "e.test"})
    ).status_code == 201
    data = (await api.client.get("/api/v1/domains?offset=1000", headers=api.auth())).json()["data"]
    assert data["items"] == [] and data["total"] >= 1
    none = (await api.client.get("/api/v1/domains?provider=nowhere", headers=api.auth())).json()["data"]
    assert none == {"items": [], "total": 0, "limit": 50, "offset": 0}

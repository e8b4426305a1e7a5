"""`/api/v1/domains` CRUD and paging through the services; records; writes name the key in the audit log."""

from __future__ import annotations

from email_infrastructure.services.desired import import_inventory, load_snapshot
from email_infrastructure.services.monitoring import record_results
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory


async def test_create_read_update_delete(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())  # providers, servers and defaults from the quickstart
    write = api.auth("write")
    made = await api.client.post(
        "/api/v1/domains",
        headers=write,
        json={"name": "New-Domain.test", "mailboxes": [{"first_name": "Dee", "last_name": "Ray"}]},
    )
    assert made.status_code == 201, made.text
    data = made.json()["data"]
    assert data["name"] == "new-domain.test" and data["owner"] == "api"
    assert data["spec"]["dns_provider"] == "local" and data["spec"]["server"] == "mx1"  # the stored defaults
    assert data["mailboxes"] == ["dee.ray@new-domain.test"]
    assert "new-domain.test" in (await load_snapshot(api.app)).domains  # the desired state, through the service

    shown = (await api.client.get("/api/v1/domains/new-domain.test", headers=api.auth())).json()["data"]
    assert shown["spec"] == data["spec"]
    before = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["items"]
    assert next(d for d in before if d["name"] == "new-domain.test")["spec"] == data["spec"]
    replaced = await api.client.put(
        "/api/v1/domains/new-domain.test",
        headers=write,
        json={"options": {"dmarc": {"policy": "reject"}}, "mailboxes": []},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["data"]["spec"]["dmarc"]["policy"] == "reject"
    assert replaced.json()["data"]["mailboxes"] == []
    listed = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["items"]
    mine = next(d for d in listed if d["name"] == "new-domain.test")  # the list is not served stale
    assert mine["spec"]["dmarc"]["policy"] == "reject" and mine["mailboxes"] == []
    gone = await api.client.delete("/api/v1/domains/new-domain.test", headers=write)
    assert gone.status_code == 200
    assert (await api.client.get("/api/v1/domains/new-domain.test", headers=api.auth())).status_code == 404

    events = (await api.client.get("/api/v1/events?topic=desired.", headers=api.auth())).json()["data"]["items"]
    mine = [e for e in events if e["source"] == "api:test-write-0"]
    assert {e["topic"] for e in mine} == {"desired.domain.created", "desired.domain.updated", "desired.domain.removed"}


async def test_paging_filters_and_total(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    write = api.auth("write")
    for i in range(5):
        response = await api.client.post("/api/v1/domains", headers=write, json={"name": f"d{i}.test"})
        assert response.status_code == 201, response.text
    await record_results(
        api.app,
        [
            ("d1.test", "spf", "error", {}, "no SPF"),
            ("d1.test", "dmarc", "ok", {}, ""),
            ("d2.test", "spf", "warning", {}, "soft"),
            ("d3.test", "spf", "ok", {}, ""),
        ],
    )
    read = api.auth()
    page = (await api.client.get("/api/v1/domains?limit=2&offset=1", headers=read)).json()["data"]
    names = ["acme-mail.test", "acme-outreach.test", "d0.test", "d1.test", "d2.test", "d3.test", "d4.test"]
    assert page["total"] == 7 and [d["name"] for d in page["items"]] == names[1:3]
    last = (await api.client.get("/api/v1/domains?limit=5&offset=5", headers=read)).json()["data"]
    assert [d["name"] for d in last["items"]] == names[5:]

    def names_of(query: str) -> list[str]:
        return [d["name"] for d in pages[query]["items"]]

    pages = {}
    for query in (
        "status=error",
        "status=warning",
        "status=ok",
        "status=unknown",
        "provider=local",
        "provider=nope",
        "server=mx1",
    ):
        response = await api.client.get(f"/api/v1/domains?{query}", headers=read)
        assert response.status_code == 200, response.text
        pages[query] = response.json()["data"]
    assert names_of("status=error") == ["d1.test"]  # the worst of its checks
    assert names_of("status=warning") == ["d2.test"]
    assert names_of("status=ok") == ["d3.test"]
    assert names_of("status=unknown") == ["acme-mail.test", "acme-outreach.test", "d0.test", "d4.test"]
    assert pages["provider=local"]["total"] == 7 and pages["provider=nope"]["total"] == 0
    assert pages["server=mx1"]["total"] == 7
    assert pages["status=error"]["items"][0]["status"] == "error"
    bad = await api.client.get("/api/v1/domains?status=purple", headers=read)
    assert bad.status_code == 422


async def test_desired_records_and_live_drift(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    response = await api.client.get("/api/v1/domains/acme-mail.test/records?live=true", headers=api.auth())
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    types = {(r["name"], r["type"]) for r in data["desired"]}
    assert ("acme-mail.test", "MX") in types and ("_dmarc.acme-mail.test", "TXT") in types
    assert any("DKIM" in n for n in data["notes"])  # the key is made at the first apply
    # nothing applied yet: every desired record is a create, with nothing live
    assert data["drift"] and all(c["action"] == "create" and c["old"] is None for c in data["drift"])
    assert (await api.client.get("/api/v1/domains/absent.test/records", headers=api.auth())).status_code == 404

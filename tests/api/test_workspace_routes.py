"""`/api/v1/workspaces` and the workspace a request acts in: the key's own without a prefix (an operator
key's: `default`), the named one under `/api/v1/workspaces/{workspace}/…`, 404 alike for another
workspace and an unknown one; the event stream of the workspace asked for."""

from __future__ import annotations

from datetime import UTC, datetime

from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.scope import acting_in
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory, two_domains


async def _two_clients(api: Api, write_inventory: WriteInventory) -> None:
    """`default` with the quickstart's domains, `amber` with two others."""
    await import_inventory(api.app, write_inventory())
    await workspaces.create(api.app, "amber")
    with acting_in("amber"):
        await import_inventory(api.app, write_inventory(two_domains("one-amber.test", "two-amber.test"), "amber.yaml"))


def _names(response: object) -> list[str]:
    return sorted(i["name"] for i in response.json()["data"]["items"])  # type: ignore[attr-defined]  # an httpx.Response


async def test_an_operator_key_acts_in_default_without_a_prefix_and_anywhere_with_one(
    api: Api, write_inventory: WriteInventory
) -> None:
    await _two_clients(api, write_inventory)
    plain = await api.client.get("/api/v1/domains", headers=api.auth())
    assert _names(plain) == ["acme-mail.test", "acme-outreach.test"]
    assert _names(await api.client.get("/api/v1/workspaces/default/domains", headers=api.auth())) == _names(plain)
    amber = await api.client.get("/api/v1/workspaces/amber/domains", headers=api.auth())
    assert _names(amber) == ["one-amber.test", "two-amber.test"]
    one = await api.client.get("/api/v1/workspaces/amber/domains/one-amber.test", headers=api.auth())
    assert one.status_code == 200 and one.json()["data"]["name"] == "one-amber.test"
    # amber's domain is not default's
    assert (await api.client.get("/api/v1/domains/one-amber.test", headers=api.auth())).status_code == 404


async def test_a_workspace_key_acts_in_its_own_workspace_only(api: Api, write_inventory: WriteInventory) -> None:
    await _two_clients(api, write_inventory)
    key = {"Authorization": f"Bearer {await api.key('amber-reader', 'read', workspace='amber')}"}
    assert _names(await api.client.get("/api/v1/domains", headers=key)) == ["one-amber.test", "two-amber.test"]
    assert (await api.client.get("/api/v1/workspaces/amber/domains", headers=key)).status_code == 200
    other = await api.client.get("/api/v1/workspaces/default/domains", headers=key)
    unknown = await api.client.get("/api/v1/workspaces/nowhere/domains", headers=key)
    by_operator = await api.client.get("/api/v1/workspaces/nowhere/domains", headers=api.auth())
    assert other.status_code == unknown.status_code == by_operator.status_code == 404
    # one body for another workspace and an unknown one, whoever asks: no answer tells which names exist
    assert other.json() == {
        "success": False,
        "error": {"code": "not_found", "message": "workspace default does not exist", "details": None},
    }
    assert unknown.text.replace("nowhere", "default") == other.text == by_operator.text.replace("nowhere", "default")
    # a name no workspace could have is not a 422 either: every unknown name looks the same
    invalid = await api.client.get("/api/v1/workspaces/Not_A-Name/domains", headers=api.auth())
    assert invalid.status_code == 404 and invalid.text.replace("Not_A-Name", "default") == other.text
    listed = (await api.client.get("/api/v1/workspaces", headers=key)).json()["data"]["items"]
    assert [(w["name"], w["domains"], w["api_keys"]) for w in listed] == [("amber", 2, 1)]
    assert (await api.client.get("/api/v1/workspaces/default", headers=key)).status_code == 404


async def test_operators_list_every_workspace_with_counts(api: Api, write_inventory: WriteInventory) -> None:
    await _two_clients(api, write_inventory)
    listed = (await api.client.get("/api/v1/workspaces", headers=api.auth())).json()["data"]["items"]
    assert [(w["name"], w["domains"], w["mailboxes"], w["servers"]) for w in listed] == [
        ("amber", 2, 3, 1),
        ("default", 2, 3, 1),
    ]
    shown = (await api.client.get("/api/v1/workspaces/amber", headers=api.auth())).json()["data"]
    assert shown["name"] == "amber" and shown["domains"] == 2 and shown["created_at"]


async def test_only_an_operator_admin_key_creates_workspaces(api: Api) -> None:
    made = await api.client.post("/api/v1/workspaces", json={"name": "cedar"}, headers=api.auth("admin"))
    assert made.status_code == 201, made.text
    assert made.json()["data"] == {**made.json()["data"], "name": "cedar", "domains": 0, "api_keys": 0}
    again = await api.client.post("/api/v1/workspaces", json={"name": "cedar"}, headers=api.auth("admin"))
    assert again.status_code == 409 and "exists already" in again.text
    assert (
        await api.client.post("/api/v1/workspaces", json={"name": "elm"}, headers=api.auth("write"))
    ).status_code == 403
    bad = await api.client.post("/api/v1/workspaces", json={"name": "Not A Name"}, headers=api.auth("admin"))
    assert bad.status_code == 422
    # a workspace key, even an admin one, is refused before the name is looked at: 403 whether it exists or not
    key = {"Authorization": f"Bearer {await api.key('cedar-admin', 'admin', workspace='cedar')}"}
    taken = await api.client.post("/api/v1/workspaces", json={"name": "cedar"}, headers=key)
    free = await api.client.post("/api/v1/workspaces", json={"name": "elm"}, headers=key)
    assert taken.status_code == free.status_code == 403 and taken.text == free.text
    assert "operator key" in taken.text
    names = [
        w["name"] for w in (await api.client.get("/api/v1/workspaces", headers=api.auth())).json()["data"]["items"]
    ]
    assert names == ["cedar", "default"]


async def test_the_event_stream_sends_the_asked_for_workspace(api: Api, write_inventory: WriteInventory) -> None:
    started = datetime.now(UTC).isoformat()
    await _two_clients(api, write_inventory)
    params = {"since": started, "limit": 1}  # import_inventory writes one event in each
    amber = await api.client.get("/api/v1/workspaces/amber/events/stream", params=params, headers=api.auth())
    plain = await api.client.get("/api/v1/events/stream", params=params, headers=api.auth())
    assert amber.status_code == plain.status_code == 200
    assert "amber.test" in amber.text and "acme-" not in amber.text
    assert "acme-" in plain.text and "amber.test" not in plain.text
    key = {"Authorization": f"Bearer {await api.key('amber-reader', 'read', workspace='amber')}"}
    own = await api.client.get("/api/v1/events/stream", params=params, headers=key)
    assert own.text.count("\nevent: ") == amber.text.count("\nevent: ") and "acme-" not in own.text
    assert (await api.client.get("/api/v1/workspaces/default/events/stream", headers=key)).status_code == 404


async def test_the_openapi_document_shows_the_workspace_routes(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    listing = spec["paths"]["/api/v1/workspaces/{workspace}/domains"]["get"]
    (parameter,) = [p for p in listing["parameters"] if p["name"] == "workspace"]
    assert parameter["in"] == "path" and parameter["required"] is True
    assert "404" in listing["responses"]
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/workspaces"])
    ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


async def test_a_key_of_a_workspace_is_logged_in_that_workspace_alone(api: Api) -> None:
    await workspaces.create(api.app, "amber")
    key = {"Authorization": f"Bearer {await api.key('amber-reader', 'read', workspace='amber')}"}
    await ApiKeyService(api.app).revoke("amber-reader", source="test")
    await api.key("amber-reader", "read", workspace="amber")  # made again: the same name is free
    topics = {"topic": "api.key."}
    amber = (await api.client.get("/api/v1/workspaces/amber/events", params=topics, headers=api.auth())).json()
    plain = (await api.client.get("/api/v1/events", params=topics, headers=api.auth())).json()
    logged = [(e["topic"], e["payload"]["name"], e["payload"]["workspace"]) for e in amber["data"]["items"]]
    assert logged == [
        ("api.key.created", "amber-reader", "amber"),
        ("api.key.revoked", "amber-reader", "amber"),
        ("api.key.created", "amber-reader", "amber"),
    ]
    # default's log has the operator keys of the test only: no name of another workspace's key
    assert {e["payload"]["workspace"] for e in plain["data"]["items"]} == {None}
    assert "amber" not in str(plain)
    revoked = await api.client.get("/api/v1/events", headers=key)
    assert revoked.status_code == 401  # that key was revoked

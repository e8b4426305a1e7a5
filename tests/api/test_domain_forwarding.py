"""A domain's `forwarding` through `/api/v1/domains`: stored as given, checked like a file's (400, nothing written)."""

from __future__ import annotations

from email_infrastructure.services.desired import import_inventory, load_snapshot
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory


async def test_forwarding_is_a_domain_option_checked_before_anything_is_written(
    api: Api, write_inventory: WriteInventory
) -> None:
    await import_inventory(api.app, write_inventory())
    write = api.auth("write")
    body = {
        "name": "fwd.test",
        "options": {"forwarding": {"catch_all": "ops@agency.test", "addresses": {"sales": ["a@x.test", "b@y.test"]}}},
        "mailboxes": [{"first_name": "Dee", "last_name": "Ray"}],
    }
    made = await api.client.post("/api/v1/domains", headers=write, json=body)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["spec"]["forwarding"] == {
        "catch_all": ["ops@agency.test"],
        "addresses": {"sales": ["a@x.test", "b@y.test"]},
    }

    for forwarding, expected in [
        ({"addresses": {"dee.ray": "x@agency.test"}}, "dee.ray@fwd.test is a mailbox"),
        ({"addresses": {"a": "b@fwd.test", "b": "a@fwd.test"}}, "forwarding loop"),
        ({"catch_all": "not-an-address"}, "is not an email address"),
    ]:
        put = {"options": {"forwarding": forwarding}, "mailboxes": [{"first_name": "Dee", "last_name": "Ray"}]}
        refused = await api.client.put("/api/v1/domains/fwd.test", headers=write, json=put)
        assert refused.status_code == 400 and expected in refused.text, refused.text
    stored = (await load_snapshot(api.app)).domains["fwd.test"].value
    assert stored["forwarding"]["addresses"] == {"sales": ["a@x.test", "b@y.test"]}  # nothing was written

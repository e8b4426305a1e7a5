"""The API agrees with itself and with its schema: one status per domain, 409 for a duplicate, paginated
results, zoned timestamps, OPTIONS with the real methods, and every name the schema allows accepted."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from email_infrastructure.core.names import DOMAIN_NAME_PATTERN, normalise_domain
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.monitoring import record_results
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory

#: an ISO 8601 date and time, and what may follow it: a zone, or (wrongly) nothing
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?P<zone>Z|[+-]\d{2}:?\d{2})?$")


def timestamps(data: Any) -> list[str]:
    """Every string in a JSON document that is a date and time."""
    if isinstance(data, dict):
        return [t for value in data.values() for t in timestamps(value)]
    if isinstance(data, list):
        return [t for value in data for t in timestamps(value)]
    return [data] if isinstance(data, str) and TIMESTAMP.match(data) else []


async def test_a_domain_alone_has_the_status_the_list_gives_it(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    await record_results(
        api.app, [("acme-mail.test", "spf", "error", {}, "no SPF"), ("acme-mail.test", "mx", "ok", {}, "")]
    )
    listed = (await api.client.get("/api/v1/domains", headers=api.auth())).json()["data"]["items"]
    assert listed
    for item in listed:
        alone = (await api.client.get(f"/api/v1/domains/{item['name']}", headers=api.auth())).json()["data"]
        assert alone["status"] == item["status"] is not None, item["name"]
    assert {d["name"]: d["status"] for d in listed}["acme-mail.test"] == "error"


async def test_a_duplicate_domain_is_a_conflict(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    write = api.auth("write")
    assert (await api.client.post("/api/v1/domains", headers=write, json={"name": "dup.test"})).status_code == 201
    again = await api.client.post("/api/v1/domains", headers=write, json={"name": "DUP.test."})
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "conflict" and "dup.test" in error["message"]
    assert "--force" not in error["message"]  # the CLI's words stay in the CLI
    # another owner's domain: 409 too, in the API's words
    owned = await api.client.post("/api/v1/domains", headers=write, json={"name": "acme-mail.test"})
    assert owned.status_code == 409 and "--force" not in owned.json()["error"]["message"]


async def test_monitoring_results_are_paginated_with_zoned_timestamps(api: Api) -> None:
    rows = [(f"d{i}.test", check, "ok", {}, "") for i in range(3) for check in ("spf", "dmarc")]
    await record_results(api.app, rows)
    await record_results(api.app, [("d1.test", "spf", "error", {}, "gone")])
    read = api.auth()
    page = (await api.client.get("/api/v1/monitoring/results?limit=2&offset=1", headers=read)).json()["data"]
    assert (page["total"], page["limit"], page["offset"]) == (6, 2, 1)
    assert [(s["subject"], s["check"]) for s in page["items"]] == [("d0.test", "spf"), ("d1.test", "dmarc")]
    one = (await api.client.get("/api/v1/monitoring/results?subject=d1.test", headers=read)).json()["data"]
    assert one["total"] == 2 and {s["check"] for s in one["items"]} == {"dmarc", "spf"}
    history = await api.client.get("/api/v1/monitoring/results/history?subject=d1.test&check=spf&limit=1", headers=read)
    data = history.json()["data"]
    assert data["total"] == 2 and [r["status"] for r in data["items"]] == ["error"]
    later = await api.client.get(
        "/api/v1/monitoring/results/history?subject=d1.test&check=spf&limit=1&offset=1", headers=read
    )
    assert [r["status"] for r in later.json()["data"]["items"]] == ["ok"]
    seen = timestamps(page) + timestamps(data)
    assert len(seen) >= 5
    assert all(TIMESTAMP.match(t)["zone"] in ("Z", "+00:00") for t in seen), seen  # type: ignore[index]  # no match is None and fails the test, as it should


async def test_every_timestamp_in_responses_carries_its_zone(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    await record_results(api.app, [("acme-mail.test", "spf", "ok", {}, "")])
    write = api.auth("write")
    assert (await api.client.post("/api/v1/domains", headers=write, json={"name": "zone.test"})).status_code == 201
    seen: list[str] = []
    for path in (
        "/api/v1/domains",
        "/api/v1/domains/acme-mail.test",
        "/api/v1/events",
        "/api/v1/monitoring/results",
        "/api/v1/monitoring/results/history?subject=acme-mail.test&check=spf",
        "/api/v1/dmarc/reports",
    ):
        response = await api.client.get(path, headers=api.auth())
        assert response.status_code == 200, (path, response.text)
        seen += timestamps(response.json())
    assert len(seen) >= 3, seen
    naive = [t for t in seen if not TIMESTAMP.match(t)["zone"]]  # type: ignore[index]  # no match is None and fails the test, as it should
    assert naive == []


async def test_options_and_405_list_every_method_of_the_path(api: Api) -> None:
    expected = {
        "/api/v1/domains": "GET, POST, OPTIONS",
        "/api/v1/domains/a.test": "GET, PUT, DELETE, OPTIONS",
        "/api/v1/monitoring/results": "GET, POST, OPTIONS",
        "/api/v1/plans/some-id/apply": "POST, OPTIONS",
        "/health": "GET, OPTIONS",
    }
    for path, allow in expected.items():
        answer = await api.client.options(path)
        assert (answer.status_code, answer.headers.get("allow")) == (204, allow), path
    refused = await api.client.patch("/api/v1/domains/a.test", headers=api.auth("write"))
    assert refused.status_code == 405 and refused.headers["allow"] == expected["/api/v1/domains/a.test"]
    assert refused.json()["error"]["code"] == "method_not_allowed"
    assert (await api.client.options("/api/v1/nothing-here")).status_code == 404


async def test_a_name_that_is_not_a_domain_is_not_found_not_refused(api: Api) -> None:
    read, admin = api.auth(), api.auth("admin")
    for name in ("0", "%25", "a..b", "-x.test", "x" * 300):
        for path, headers in (
            (f"/api/v1/domains/{name}", read),
            (f"/api/v1/domains/{name}/records", read),
            (f"/api/v1/domains/{name}/mailboxes/credentials", admin),
        ):
            response = await api.client.get(path, headers=headers)
            assert response.status_code == 404, (path, response.text)
        assert (await api.client.delete(f"/api/v1/domains/{name}", headers=api.auth("write"))).status_code == 404
        put = await api.client.put(f"/api/v1/domains/{name}", headers=api.auth("write"), json={})
        assert put.status_code == 404, put.text
    run = await api.client.post("/api/v1/monitoring/results", headers=api.auth("write"), json={"domain": "0"})
    assert run.status_code == 404


async def test_the_schema_states_the_domain_names_bodies_accept(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    assert schemas["DomainIn"]["properties"]["name"]["pattern"] == DOMAIN_NAME_PATTERN
    assert schemas["AuditIn"]["properties"]["domains"]["items"]["pattern"] == DOMAIN_NAME_PATTERN
    refused = await api.client.post("/api/v1/domains", headers=api.auth("write"), json={"name": "not a domain"})
    assert refused.status_code == 422  # outside the schema: refused by the schema, not by a rule after it
    # the other names a body gives are the schema's enums: what it lists, the services know
    from email_infrastructure.core.inventory.schema import DOMAIN_OPTIONS
    from email_infrastructure.monitoring.audit import ALL_CHECKS
    from email_infrastructure.monitoring.monitor import FAMILIES

    assert set(schemas["CheckRunIn"]["properties"]["family"]["enum"]) >= set(FAMILIES)
    assert set(schemas["AuditIn"]["properties"]["checks"]["items"]["enum"]) >= set(ALL_CHECKS)
    options = schemas["DomainIn"]["properties"]["options"]["propertyNames"]["enum"]
    assert set(options) >= set(DOMAIN_OPTIONS)
    from email_infrastructure.monitoring.monitor import family_name
    from email_infrastructure.services.audit import check_names

    for family in schemas["CheckRunIn"]["properties"]["family"]["enum"]:
        family_name(family)  # raises for a name the service does not know
    check_names(set(schemas["AuditIn"]["properties"]["checks"]["items"]["enum"]))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.from_regex(DOMAIN_NAME_PATTERN, fullmatch=True).filter(lambda name: len(name) <= 253))
def test_every_name_the_pattern_allows_is_a_domain_name(name: str) -> None:
    normalise_domain(name)

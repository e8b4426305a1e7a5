"""The envelope and every status code, auth per scope, body limit, CORS and rate limits (in process)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from email_infrastructure.services.desired import import_inventory
from tests.api.conftest import Api, MakeApi
from tests.services.conftest import WriteInventory


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code, body
    assert set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


async def test_success_is_enveloped(api: Api) -> None:
    response = await api.client.get("/api/v1/domains", headers=api.auth())
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"items": [], "total": 0, "limit": 50, "offset": 0}}


async def test_401_without_a_key_or_with_a_bad_one(api: Api) -> None:
    missing = await api.client.get("/api/v1/domains")
    error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    error(
        await api.client.get("/api/v1/domains", headers={"Authorization": "Bearer eik_00000000_" + "x" * 43}),
        401,
        "unauthorized",
    )
    error(await api.client.get("/api/v1/domains", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("POST", "/api/v1/domains", "write"),
        ("DELETE", "/api/v1/domains/a.test", "write"),
        ("POST", "/api/v1/plans/0/apply", "write"),
        ("POST", "/api/v1/monitoring/results", "write"),
    ],
)
async def test_403_when_the_scope_is_missing(api: Api, method: str, path: str, needed: str) -> None:
    body = {"name": "a.test"} if path.endswith("domains") else {"domain": "a.test"}
    refused = await api.client.request(method, path, headers=api.auth("read"), json=body)
    assert needed in error(refused, 403, "forbidden")["message"]
    allowed = await api.client.request(method, path, headers=api.auth("admin"), json=body)
    assert allowed.status_code != 403  # admin includes write


async def test_400_404_409_and_422_come_from_the_errors_hierarchy(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())  # both quickstart domains, owned by the file
    write = api.auth("write")
    bad = {"name": "x.test", "options": {"server": "no-such-server"}}
    error(await api.client.post("/api/v1/domains", headers=write, json=bad), 400, "bad_request")
    # a name outside the schema's pattern is refused by the schema
    not_a_name = {"name": "not a domain!"}
    error(await api.client.post("/api/v1/domains", headers=write, json=not_a_name), 422, "validation_error")
    error(await api.client.get("/api/v1/domains/absent.test", headers=write), 404, "not_found")
    error(await api.client.get("/api/v1/jobs/nothing", headers=write), 404, "not_found")
    taken = await api.client.post("/api/v1/domains", headers=write, json={"name": "acme-outreach.test"})
    assert "owned by file:" in error(taken, 409, "conflict")["message"]
    error(await api.client.delete("/api/v1/domains/acme-outreach.test", headers=write), 409, "conflict")
    error(await api.client.put("/api/v1/domains/acme-outreach.test", headers=write, json={}), 409, "conflict")
    invalid = error(await api.client.post("/api/v1/domains", headers=write, json={"nom": 1}), 422, "validation_error")
    assert invalid["details"][0]["loc"] == ["body", "name"]
    error(await api.client.get("/api/v1/domains?limit=100000", headers=write), 422, "validation_error")


async def test_422_never_echoes_the_rejected_input(api: Api) -> None:
    secret = "hunter2-do-not-echo"
    response = await api.client.post(
        "/api/v1/domains", headers=api.auth("write"), json={"name": ["x"], "options": secret}
    )
    error(response, 422, "validation_error")
    assert secret not in response.text


async def test_unknown_routes_and_methods(api: Api) -> None:
    error(await api.client.get("/api/v1/nowhere"), 404, "not_found")
    wrong = await api.client.patch("/health")
    error(wrong, 405, "method_not_allowed")
    assert "GET" in wrong.headers["allow"]


async def test_500_hides_internals(api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr("email_infrastructure.api.routers.domains.page_domains", broken)
    response = await api.client.get("/api/v1/domains", headers=api.auth())
    body = error(response, 500, "internal_error")
    assert "/srv/secret" not in response.text and "RuntimeError" not in response.text
    incident = body["message"].split("incident ")[1].split()[0]
    assert any(incident in r.getMessage() for r in caplog.records)  # the log has what the client does not


async def test_request_bodies_over_the_limit_are_refused(make_api: MakeApi) -> None:
    api = await make_api(api_max_body_bytes=200)
    big = {"name": "a.test", "options": {"redirect": "https://x.test/" + "a" * 500}}
    error(await api.client.post("/api/v1/domains", headers=api.auth("write"), json=big), 413, "payload_too_large")

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        for _ in range(10):
            yield b" " * 100

    chunked = await api.client.post(
        "/api/v1/domains", headers={**api.auth("write"), "Content-Type": "application/json"}, content=chunks()
    )
    error(chunked, 413, "payload_too_large")


async def test_cors_is_closed_unless_origins_are_configured(make_api: MakeApi) -> None:
    preflight = {"Origin": "https://evil.test", "Access-Control-Request-Method": "GET"}
    closed = await make_api()
    answer = await closed.client.options("/api/v1/domains", headers=preflight)
    assert "access-control-allow-origin" not in answer.headers
    opened = await make_api(api_cors_origins=["https://ops.test"])
    allowed = await opened.client.options("/api/v1/domains", headers={**preflight, "Origin": "https://ops.test"})
    assert allowed.headers["access-control-allow-origin"] == "https://ops.test"
    denied = await opened.client.options("/api/v1/domains", headers=preflight)
    assert "access-control-allow-origin" not in denied.headers


async def test_rate_limit_per_key_and_route_with_headers(make_api: MakeApi) -> None:
    api = await make_api(api_rate_limit_read="3/minute")
    first = await api.client.get("/api/v1/domains", headers=api.auth())
    assert (first.headers["ratelimit-limit"], first.headers["ratelimit-remaining"]) == ("3", "2")
    assert 0 < int(first.headers["ratelimit-reset"]) <= 60
    for _ in range(2):
        assert (await api.client.get("/api/v1/domains", headers=api.auth())).status_code == 200
    limited = await api.client.get("/api/v1/domains", headers=api.auth())
    error(limited, 429, "rate_limited")
    assert limited.headers["ratelimit-remaining"] == "0"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    # another key, and another route, have their own counters
    assert (await api.client.get("/api/v1/domains", headers=api.auth("write"))).status_code == 200
    assert (await api.client.get("/api/v1/events", headers=api.auth())).status_code == 200


async def test_create_routes_have_the_smaller_limit(make_api: MakeApi) -> None:
    api = await make_api(api_rate_limit_write="1/minute")
    body = {"name": "one.test"}
    first = await api.client.post("/api/v1/domains", headers=api.auth("write"), json=body)
    assert first.headers["ratelimit-limit"] == "1"
    error(await api.client.post("/api/v1/domains", headers=api.auth("write"), json=body), 429, "rate_limited")

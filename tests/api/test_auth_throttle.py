"""Rejected API keys are throttled per client address: 429 with Retry-After; valid keys and other addresses go on."""

from __future__ import annotations

import re

import httpx

from tests.api.conftest import MakeApi

BAD = {"Authorization": "Bearer ei_nope_0000000000000000000000000000000000000000"}


async def test_rejected_keys_are_throttled_per_address(make_api: MakeApi) -> None:
    api = await make_api(api_auth_failure_limit="3/minute")
    for _ in range(5):  # requests without a key are not attempts
        assert (await api.client.get("/api/v1/domains")).status_code == 401
    for _ in range(3):
        assert (await api.client.get("/api/v1/domains", headers=BAD)).status_code == 401
    throttled = await api.client.get("/api/v1/domains", headers=BAD)
    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert "rejected API keys" in throttled.json()["error"]["message"]

    # a valid key from the same address is not affected
    assert (await api.client.get("/api/v1/domains", headers=api.auth())).status_code == 200
    # another address has its own count
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.api, client=("192.0.2.7", 40000)), base_url="http://testserver"
    )
    async with other:
        assert (await other.get("/api/v1/domains", headers=BAD)).status_code == 401


async def test_the_dashboard_login_counts_rejected_keys_too(make_api: MakeApi) -> None:
    from email_infrastructure.dashboard import extension

    api = await make_api(api_auth_failure_limit="2/minute")
    extension(api.api)
    form = await api.client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answers = []
    for _ in range(3):
        page = await api.client.post(
            "/login", data={"csrf": token[1], "key": "ei_nope_000000000000000000000000", "next": "/"}
        )
        answers.append(page.status_code)
    assert answers == [401, 401, 429], answers
    assert int(page.headers["Retry-After"]) >= 1

"""No secret in any response or log line: vault-stored DKIM keys, the HMAC key, API keys once created.

Named to run last in tests/api: it also scans every response body the in-process API tests received.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from email_infrastructure.core.secret_names import dkim_key
from email_infrastructure.services.apikeys import SERVER_KEY
from email_infrastructure.services.plans import apply
from tests.api.conftest import KNOWN_SECRETS, SEEN_BODIES, Api
from tests.services.conftest import WriteInventory

PATHS = [
    "/api/v1/domains",
    "/api/v1/domains/acme-mail.test",
    "/api/v1/domains/acme-mail.test/records",
    "/api/v1/domains/acme-mail.test/records?live=true",
    "/api/v1/events?limit=500",
    "/api/v1/monitoring/results",
    "/api/v1/dns/status",
    "/api/v1/mailcow/status",
    "/api/v1/vps/status",
    "/api/v1/monitoring/status",
    "/metrics",
    "/ready",
    "/openapi.json",
]


def _pem_body(pem: str) -> list[str]:
    """The base64 lines of a PEM key: any of them showing up is a leak."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


async def test_no_secret_in_responses_or_logs(
    api: Api, write_inventory: WriteInventory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await apply(api.app, source=write_inventory())  # DKIM private keys go into the vault
    async with api.app.uow() as uow:
        store = uow.secrets()
        secrets = [await store.get(*dkim_key(d, "dkim")) for d in ("acme-mail.test", "acme-outreach.test")]
        server_key = await store.get(*SERVER_KEY)
    assert all(secrets) and server_key
    needles = {server_key, *api.keys.values(), *(line for s in secrets if s for line in _pem_body(s))}

    bodies: list[str] = []
    plan: dict[str, Any] = (await api.client.post("/api/v1/plans", headers=api.auth())).json()["data"]
    bodies.append(str(plan))
    for path in [*PATHS, f"/api/v1/plans/{plan['id']}"]:
        for scope in ("read", "admin"):
            response = await api.client.get(path, headers=api.auth(scope))
            assert response.status_code == 200, (path, response.text)
            bodies.append(response.text + str(response.headers))
    bodies.append(
        (await api.client.get("/api/v1/domains", headers={"Authorization": "Bearer " + api.keys["read"] + "x"})).text
    )
    logs = [caplog.text, *(r.getMessage() for r in caplog.records)]
    for needle in needles:
        assert not any(needle in text for text in bodies), "a secret is in a response"
        assert not any(needle in text for text in logs), "a secret is in a log line"


def test_no_api_key_in_any_response_of_the_api_tests() -> None:
    assert SEEN_BODIES, "the other API tests ran first and their responses were recorded"
    leaked = [k for k in KNOWN_SECRETS if any(k in body for body in SEEN_BODIES)]
    assert not leaked

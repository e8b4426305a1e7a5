"""schemathesis against `/openapi.json` of a live `email-infra serve`: no 500s, every response as documented.

Bounded: a few examples per operation, with and without a key. The live-DNS routes (audit, a
check run) and the endless event stream are left out here; their own tests cover them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import KNOWN_SECRETS, free_port, wait_healthy
from tests.services.conftest import QUICKSTART

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLOW_OR_ENDLESS = ["/api/v1/audit", "/api/v1/monitoring/results", "/api/v1/events/stream"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A server with the quickstart stored and an admin key (rate limits high: they are tested elsewhere)."""
    root = tmp_path_factory.mktemp("schemathesis")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
    env.update(
        EMAIL_INFRA_DATA_DIR=str(root / "data"),
        EMAIL_INFRA_CONFIG_DIR=str(root / "no-config"),
        EMAIL_INFRA_API_RATE_LIMIT_READ="100000/minute",
        EMAIL_INFRA_API_RATE_LIMIT_WRITE="100000/minute",
        EMAIL_INFRA_API_AUTH_FAILURE_LIMIT="100000/minute",  # generated bad keys would be throttled
    )
    inventory = root / "inventory.yaml"
    inventory.write_text(QUICKSTART)

    def cli(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "email_infrastructure", *args],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    cli("apply", "-f", str(inventory), "--yes")
    key = json.loads(cli("apikey", "create", "--name", "fuzz", "--scope", "admin", "--json"))["key"]
    KNOWN_SECRETS.add(key)
    port = free_port()
    log = root / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "email_infrastructure", "serve", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield {"url": url, "key": key, "log": log}
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert key not in log.read_text()


BOUNDED = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def run_schema(live: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[int, int]]:
    """Every operation of the live schema with generated requests: operations run, responses by status."""
    schema = schemathesis.openapi.from_dict(httpx.get(f"{live['url']}/openapi.json").json()).exclude(
        path=SLOW_OR_ENDLESS
    )
    ran, statuses = 0, Counter[int]()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @BOUNDED
        def check(case: Any) -> None:
            response = case.call_and_validate(base_url=live["url"], headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1

        check()
        ran += 1
    return ran, dict(statuses)


def test_with_an_admin_key(live: dict[str, Any]) -> None:
    ran, statuses = run_schema(live, {"Authorization": f"Bearer {live['key']}"})
    assert ran >= 12 and statuses.get(200, 0) > 0 and 500 not in statuses, statuses


def test_without_a_key(live: dict[str, Any]) -> None:
    ran, statuses = run_schema(live, {})
    # only the unauthenticated probes may answer anything but 401
    assert ran >= 12 and statuses.get(401, 0) > sum(statuses.values()) / 2, statuses


def test_the_schema_documents_the_envelope_and_errors(live: dict[str, Any]) -> None:
    spec = httpx.get(f"{live['url']}/openapi.json").json()
    listing = spec["paths"]["/api/v1/domains"]["get"]["responses"]
    assert {"200", "401", "403", "422", "429", "500"} <= set(listing)
    assert listing["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert httpx.get(f"{live['url']}/docs").status_code == 200
    Path(live["log"]).read_text()  # the server is still writing its log

"""schemathesis against `/openapi.json` of a live `email-infra serve`: no 500s, every response as documented.

Bounded: a few examples per operation, with and without a key, and with keys of two workspaces and
an operator key over the workspace routes (`/api/v1/workspaces/{workspace}/…`). The live-DNS routes
(audit, a check run) and the endless event stream are left out here; their own tests cover them.
"""

from __future__ import annotations

import itertools
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
from tests.services.conftest import QUICKSTART, two_domains

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
#: with or without the workspace prefix
SLOW_OR_ENDLESS = r"^/api/v1/(workspaces/\{workspace\}/)?(audit|monitoring/results|events/stream)$"
#: the second workspace of the live server: the quickstart again with other domain names
CLIENT = "client-b"
#: counted apart from the statuses: a workspace route that answered 2xx
PREFIXED_OK = -1


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
    client = root / "client.yaml"
    client.write_text(f"workspace: {CLIENT}\n" + two_domains("b-outreach.test", "b-mail.test"))
    cli("apply", "-f", str(client), "--yes")
    key = json.loads(cli("apikey", "create", "--name", "fuzz", "--scope", "admin", "--json"))["key"]
    client_key = json.loads(cli("-w", CLIENT, "apikey", "create", "--name", "fuzz-b", "--scope", "admin", "--json"))
    operator = json.loads(cli("apikey", "create", "--name", "fuzz-op", "--scope", "admin", "--operator", "--json"))
    KNOWN_SECRETS.update((key, client_key["key"], operator["key"]))
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
        yield {"url": url, "key": key, "client_key": client_key["key"], "operator_key": operator["key"], "log": log}
    finally:
        process.terminate()
        process.wait(timeout=15)
    logged = log.read_text()
    assert not [k for k in (key, client_key["key"], operator["key"]) if k in logged]


BOUNDED = settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def run_schema(
    live: dict[str, Any], headers: dict[str, str], workspaces: tuple[str, ...] = ()
) -> tuple[int, dict[int, int]]:
    """Every operation of the live schema with generated requests: operations run, responses by status.

    A generated `{workspace}` is a name that almost never exists: with `workspaces`, most cases are
    aimed at one of them instead (in turn), so the routes behind the prefix run too.
    """
    schema = schemathesis.openapi.from_dict(httpx.get(f"{live['url']}/openapi.json").json()).exclude(
        path_regex=SLOW_OR_ENDLESS
    )
    ran, statuses = 0, Counter[int]()
    turn = itertools.count()  # which workspace the next case is aimed at
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @BOUNDED
        def check(case: Any) -> None:
            n = next(turn)
            if workspaces and case.path_parameters and "workspace" in case.path_parameters and n % 4:
                case.path_parameters["workspace"] = workspaces[n % len(workspaces)]
            response = case.call_and_validate(base_url=live["url"], headers=headers, checks=CHECKS)
            statuses[response.status_code] += 1
            if case.path_parameters and "workspace" in case.path_parameters and response.status_code < 300:
                statuses[PREFIXED_OK] += 1

        check()
        ran += 1
    return ran, dict(statuses)


def test_with_an_admin_key(live: dict[str, Any]) -> None:
    ran, statuses = run_schema(live, {"Authorization": f"Bearer {live['key']}"})
    assert ran >= 12 and statuses.get(200, 0) > 0 and 500 not in statuses, statuses


def test_with_an_operator_key_over_both_workspaces(live: dict[str, Any]) -> None:
    ran, statuses = run_schema(live, {"Authorization": f"Bearer {live['operator_key']}"}, ("default", CLIENT))
    assert ran >= 24 and statuses.get(PREFIXED_OK, 0) > 20 and 500 not in statuses, statuses


def test_with_a_key_of_the_second_workspace(live: dict[str, Any]) -> None:
    # its own workspace, and the default one it may not see (404)
    ran, statuses = run_schema(live, {"Authorization": f"Bearer {live['client_key']}"}, (CLIENT, "default"))
    assert ran >= 24 and statuses.get(PREFIXED_OK, 0) > 10 and statuses.get(404, 0) > 0, statuses
    assert 500 not in statuses, statuses


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

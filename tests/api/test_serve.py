"""`email-infra serve` as a real process: /health, clean SIGTERM, the SSE stream, and two processes sharing one Redis."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import KNOWN_SECRETS, StartServer, unique_prefix
from tests.conftest import Cli, service_missing

QUICKSTART = (Path(__file__).parents[2] / "examples" / "quickstart.yaml").read_text()
REDIS_URL = os.environ.get("EMAIL_INFRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def make_key(cli: Cli, name: str, scope: str) -> str:
    made = cli("apikey", "create", "--name", name, "--scope", scope, "--json")
    assert made.returncode == 0, made.stderr
    key = str(json.loads(made.stdout)["key"])
    KNOWN_SECRETS.add(key)
    return key


def test_serve_answers_and_stops_cleanly_on_sigterm(cli: Cli, start_server: StartServer) -> None:
    key = make_key(cli, "ops", "read")
    server = start_server()
    assert httpx.get(f"{server.url}/health").json() == {"success": True, "data": {"status": "ok"}}
    assert httpx.get(f"{server.url}/ready").status_code == 200
    assert httpx.get(f"{server.url}/api/v1/domains", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0, server.output()
    assert key not in server.output()


def test_serve_stops_promptly_on_sigterm_while_clients_add_domains(
    cli: Cli, start_server: StartServer, tmp_path: Path
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART)
    applied = cli("apply", "-f", str(inventory), "--yes")
    assert applied.returncode == 0, applied.stderr
    key = make_key(cli, "writer", "write")
    server = start_server({"EMAIL_INFRA_API_RATE_LIMIT_WRITE": "100000/minute"})
    statuses: list[int] = []
    writing, done = threading.Event(), threading.Event()

    def write(client_number: int) -> None:
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for i in range(10_000):
                if done.is_set():
                    return
                try:
                    answer = client.post("/api/v1/domains", json={"name": f"w{client_number}-{i}.writes.test"})
                except httpx.HTTPError:  # the server closed the connection: it is stopping
                    return
                statuses.append(answer.status_code)
                if len(statuses) >= 16:
                    writing.set()

    clients = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for thread in clients:
        thread.start()
    try:
        assert writing.wait(timeout=120), server.output()
        server.process.send_signal(signal.SIGTERM)
        # generous: a server whose event loop a write held would miss it
        assert server.process.wait(timeout=60) == 0, server.output()
    finally:
        done.set()
        for thread in clients:
            thread.join(timeout=60)
    assert statuses and set(statuses) == {201}, sorted(set(statuses))


def test_the_event_stream_sends_new_audit_log_entries(cli: Cli, start_server: StartServer) -> None:
    key = make_key(cli, "watcher", "write")
    server = start_server()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("GET", f"{server.url}/api/v1/events/stream?limit=1", headers=headers, timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["ratelimit-limit"] == "60"
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        # an event written after the stream started (a refused domain add writes none: create a key instead)
        make_key(cli, "late", "read")
        received = [line for line in lines if line]
    assert received[0].startswith("id: ") and received[1] == "event: api.key.created"
    assert json.loads(received[2].removeprefix("data: "))["payload"]["name"] == "late"


@pytest.fixture
def redis_prefix() -> object:
    """A key prefix unique to this run in the real Redis, removed afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL}: {exc}")
    prefix = unique_prefix()
    yield prefix
    for name in client.scan_iter(f"{prefix}*"):
        client.delete(name)
    client.close()


def test_two_processes_sharing_redis_hold_one_limit(cli: Cli, start_server: StartServer, redis_prefix: str) -> None:
    key = make_key(cli, "shared", "read")
    env = {
        "REDIS_URL": REDIS_URL,
        "EMAIL_INFRA_API_RATE_LIMIT_PREFIX": redis_prefix,
        "EMAIL_INFRA_API_RATE_LIMIT_READ": "5/minute",
    }
    first, second = start_server(env), start_server(env)
    headers = {"Authorization": f"Bearer {key}"}
    statuses = []
    for server in (first, second, first, second, first):
        statuses.append(httpx.get(f"{server.url}/api/v1/domains", headers=headers).status_code)
    assert statuses == [200] * 5
    for server in (second, first):
        limited = httpx.get(f"{server.url}/api/v1/domains", headers=headers)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1 and limited.headers["ratelimit-remaining"] == "0"
    import redis

    assert list(redis.Redis.from_url(REDIS_URL).scan_iter(f"{redis_prefix}*"))  # the counters are in Redis


def test_a_taken_port_is_exit_2_with_one_line(cli: Cli) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("serve", "--port", str(port), timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr


def _installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def test_serve_runs_on_uvloop_and_httptools_when_they_are_installed(start_server: StartServer) -> None:
    if not (_installed("uvloop") and _installed("httptools")):
        pytest.skip("uvloop or httptools not installed here (they are dependencies where they build)")
    server = start_server()
    assert httpx.get(f"{server.url}/health").status_code == 200
    assert "(API docs: /docs; uvloop, httptools)" in server.output()


def test_serve_falls_back_to_asyncio_and_h11_without_them(start_server: StartServer, tmp_path: Path) -> None:
    # packages of the same names first on the path, whose import fails as a missing one's does
    hidden = tmp_path / "hidden"
    for name in ("uvloop", "httptools"):
        (hidden / name).mkdir(parents=True)
        (hidden / name / "__init__.py").write_text(f"raise ImportError('{name} hidden by the test')\n")
    path = os.pathsep.join([str(hidden), *filter(None, [os.environ.get("PYTHONPATH")])])
    server = start_server({"PYTHONPATH": path})
    assert httpx.get(f"{server.url}/health").json() == {"success": True, "data": {"status": "ok"}}
    assert "(API docs: /docs; asyncio, h11)" in server.output()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=15) == 0, server.output()


def test_sigterm_stops_serve_while_a_live_stream_is_open(cli: Cli, start_server: StartServer) -> None:
    """A dashboard tab left open holds a server-sent-events stream: SIGTERM still stops `serve` (0)."""
    key = make_key(cli, "watcher", "read")
    server = start_server()
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.stream("GET", f"{server.url}/api/v1/events/stream", headers=headers, timeout=60) as stream:
        assert next(stream.iter_lines()) == ": connected"
        # bounded by serve's graceful-shutdown timeout (10 s), not by the stream's end
        assert server.stop(timeout=45) == 0

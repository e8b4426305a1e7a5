"""The API under test: in-process over ASGI (each test on SQLite and PostgreSQL), or uvicorn subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from email_infrastructure.api.app import create_app
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from email_infrastructure.storage.db import Database
from tests.fixtures.rdap_fixtures import rdap, rdap_tls  # noqa: F401  # the loopback RDAP registry (whois)
from tests.services.conftest import write_inventory

__all__ = ["write_inventory"]  # the inventory fixture of the service tests, used here too

#: every key created by a test, and every secret seen: the leak test scans responses for them
KNOWN_SECRETS: set[str] = set()
#: every response body the in-process clients received (the leak test reads them)
SEEN_BODIES: list[str] = []


@dataclass
class Api:
    """An API app, its App, an HTTP client, and keys by scope."""

    api: FastAPI
    app: App
    client: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, scope: str = "read") -> dict[str, str]:
        """The Authorization header of the test's key with `scope`."""
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    async def key(self, name: str, scope: str, workspace: str | None = None) -> str:
        """Create one more key (of one workspace, else an operator key)."""
        created = await ApiKeyService(self.app).create(name, scope, source="test", workspace=workspace)
        KNOWN_SECRETS.add(created.key)
        return created.key


async def _record(response: httpx.Response) -> None:
    await response.aread()
    SEEN_BODIES.append(response.text)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api(settings: Settings, database: Database) -> AsyncIterator[MakeApi]:
    """`await make_api(**settings)`: an API on the test database with one key per scope."""
    stack: list[Any] = []

    async def make(**overrides: Any) -> Api:
        app = App(settings.model_copy(update={"database_url": database.url, **overrides}))
        api = create_app(app)
        lifespan = api.router.lifespan_context(api)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=api),
            base_url="http://testserver",
            event_hooks={"response": [_record]},
        )
        made = Api(api, app, client)
        number = len(stack)
        stack.append((made, lifespan))
        for scope in ("read", "write", "admin"):
            made.keys[scope] = await made.key(f"test-{scope}-{number}", scope)
        return made

    yield make
    for made, lifespan in reversed(stack):
        await made.client.aclose()
        await lifespan.__aexit__(None, None, None)
        await made.app.close()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    """The API with default settings."""
    return await make_api()


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """An `email-infra serve` subprocess on loopback."""

    process: subprocess.Popen[str]
    url: str
    log: Path

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM, then wait for the exit code."""
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        """What the process wrote (stdout and stderr)."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def wait_healthy(url: str, process: subprocess.Popen[str], log: Path, timeout: float = 30) -> None:
    """Poll /health until it answers; fail with the process's output if it exits first."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"server did not answer /health within {timeout} s:\n{log.read_text()}")


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    """`start_server(env)`: `email-infra serve` on a free loopback port, stopped afterwards."""
    servers: list[Server] = []

    def start(env: dict[str, str] | None = None) -> Server:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "REDIS_URL"}
        base["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
        with log.open("w") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "email_infrastructure", "serve", "--host", "127.0.0.1", "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=tmp_path,
                env={**base, **(env or {})},
            )
        url = f"http://127.0.0.1:{port}"
        server = Server(process, url, log)
        servers.append(server)
        wait_healthy(url, process, log)
        return server

    yield start
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def unique_prefix() -> str:
    """A Redis key prefix no other test run uses."""
    return f"ei-test-{uuid.uuid4().hex[:12]}"

"""Shared fixtures: settings in a temporary data dir, real PostgreSQL, service gating."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from email_infrastructure.core.events import Event
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.storage.db import Database, open_database
from tests.fixtures.mailserver import MailServer, mailserver_available, start_mailserver
from tests.fixtures.pdns import PowerDns, pdns_available, start_pdns
from tests.fixtures.receiver import Receiver, receiving

#: CI sets this so that a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("EMAIL_INFRA_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get("EMAIL_INFRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def service_missing(reason: str) -> None:
    """Skip, or fail when services are required (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's EMAIL_INFRA_* variables, .env or config directory."""
    for name in list(os.environ):
        if name.startswith("EMAIL_INFRA_") and not name.startswith("EMAIL_INFRA_TEST_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("EMAIL_INFRA_CONFIG_DIR", str(tmp_path / "no-config"))
    # The default data dir is per user: no test may write into the real one.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Development settings with a fresh data directory (SQLite inside it)."""
    return Settings(data_dir=tmp_path / "data", _env_file=None)  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it


async def _admin_async(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin(sql: str) -> None:
    """Run one admin statement from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_async(sql)).result()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL, or skip/fail."""
    try:
        _admin("SELECT 1")
    except Exception as exc:
        service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    return POSTGRES_ADMIN_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"ei_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE DATABASE "{name}"')
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(settings: Settings, database_url: str) -> AsyncIterator[Database]:
    """A migrated database: each test that uses it runs on SQLite and on PostgreSQL."""
    db = await open_database(settings.model_copy(update={"database_url": database_url}), migrate=True)
    yield db
    await db.close()


@pytest.fixture
def events() -> list[Event]:
    """Every event the `app` fixture's bus publishes."""
    return []


@pytest.fixture
async def app(settings: Settings, database: Database, events: list[Event]) -> AsyncIterator[App]:
    """An App on the test database (SQLite, then PostgreSQL); its events are collected in `events`."""
    instance = App(settings.model_copy(update={"database_url": database.url}))
    instance.bus.subscribe("*", events.append)
    yield instance
    await instance.close()


@pytest.fixture(scope="session")
def pdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDns]:
    """One real PowerDNS for the whole session (zones are per test, named uniquely)."""
    reason = pdns_available()
    if reason:
        service_missing(reason)
    server = start_pdns(tmp_path_factory.mktemp("pdns"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mailserver() -> Iterator[MailServer]:
    """One real Postfix + Dovecot per session (mailboxes are per test: `set_user`); skip/fail if missing."""
    reason = mailserver_available()
    if reason:
        service_missing(reason)
    server = start_mailserver()
    yield server
    server.stop()


@pytest.fixture
def receiver(mailserver: MailServer) -> Iterator[Receiver]:
    """An SMTP receiver where the mail server fixture's Postfix relays every message."""
    with receiving(mailserver.relay_port) as handler:
        yield handler


@pytest.fixture(scope="session")
def audit_dns(pdns: PowerDns) -> PowerDns:
    """The PowerDNS loaded with the monitoring defect zones (tests/monitoring/zones.py)."""
    from tests.monitoring.zones import defect_zones, load_zones

    load_zones(pdns, defect_zones())
    return pdns


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Call `email-infra ARGS...` with a clean environment; returns the completed process."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_")}
    base_env.pop("DATABASE_URL", None)
    base_env["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
    base_env["COLUMNS"] = "200"

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "email_infrastructure", *args],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            env={**base_env, **(env or {})},
            timeout=timeout,
            check=False,
        )

    return run

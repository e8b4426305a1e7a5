"""Shared fixtures: settings in a temporary data dir, real PostgreSQL, service gating."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from email_infrastructure.core.events import Event
from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.storage.db import Database, open_database
from tests.fakes.http_server import FakeServer
from tests.fakes.mailcow import FakeMailcow
from tests.fixtures.cli import clean_environment, run_in_process
from tests.fixtures.databases import PostgresDatabases, SqliteTemplate, in_thread
from tests.fixtures.mailserver import MailServer, mailserver_available, start_mailserver
from tests.fixtures.pdns import PowerDns, pdns_available, start_pdns
from tests.fixtures.receiver import Receiver, receiving
from tests.fixtures.threads import keep_thread_greenlets

keep_thread_greenlets()  # before any test starts a thread: see the module for the hang it prevents

#: CI sets this so that a missing service fails the run instead of skipping tests.
REQUIRE_SERVICES = os.environ.get("EMAIL_INFRA_TEST_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get("EMAIL_INFRA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


#: markers given from the fixtures a test uses, so that `-m "not postgres"` (say) selects without reading every test
SERVICE_MARKERS = {
    "postgres": {"postgres_server"},
    "pdns": {"pdns", "audit_dns", "parent_dns"},
    "mailserver": {"mailserver"},
    "redis": {"redis_prefix", "unique_prefix"},
    "browser": {"chromium"},
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Service markers from the fixtures; the API tests stay together on one xdist worker (the leak test,
    last, scans what they all received)."""
    api = Path(__file__).parent / "api"
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            used.add("postgres_server")  # requested lazily, by the postgresql case only
        for marker, fixtures in SERVICE_MARKERS.items():
            if used & fixtures:
                item.add_marker(marker)
        if item.path.is_relative_to(api):
            item.add_marker(pytest.mark.xdist_group("api"))


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


def _admin(sql: str) -> None:
    """Run one admin statement from sync code, even inside a running event loop."""

    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    in_thread(lambda: asyncio.run(run()))


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL, or skip/fail."""
    try:
        _admin("SELECT 1")
    except Exception as exc:
        service_missing(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
    return POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresDatabases]:
    """This session's PostgreSQL databases: a template migrated once, reset copies for the tests."""
    databases = PostgresDatabases(postgres_server, tmp_path_factory.mktemp("postgres"))
    databases.drop_leftovers()
    yield databases
    databases.close()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (tests of the migrations), dropped afterwards."""
    name = postgres_databases.empty()
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.drop(name)


@pytest.fixture
def migrated_postgres_url(postgres_databases: PostgresDatabases) -> Iterator[str]:
    """A migrated PostgreSQL database with no rows, for this test alone (reset for the next one afterwards)."""
    name = postgres_databases.migrated()
    try:
        yield postgres_databases.url(name)
    finally:
        postgres_databases.give_back(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    """A SQLite file migrated once per session."""
    return SqliteTemplate(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each storage test runs on SQLite and on a real PostgreSQL."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on this test's backend (for tests that migrate it themselves)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def migrated_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database on this test's backend: a copy of the session's template."""
    if backend == "sqlite":
        return request.getfixturevalue("sqlite_template").copy(tmp_path / "test.db")
    return str(request.getfixturevalue("migrated_postgres_url"))


@pytest.fixture
async def database(settings: Settings, migrated_database_url: str) -> AsyncIterator[Database]:
    """A migrated database: each test that uses it runs on SQLite and on PostgreSQL."""
    db = await open_database(settings.model_copy(update={"database_url": migrated_database_url}))
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
    """Call `email-infra ARGS...` in this process with a clean environment; returns the completed call.

    The real entry point, settings and database, without a subprocess's start-up (tests/fixtures/cli.py);
    tests of signals, kills, locks between processes or start-up use `cli_process`.
    """

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        del timeout  # `cli_process`'s signature: a call in process is not cut short
        return run_in_process(args, clean_environment(tmp_path / "data", env), cwd or tmp_path)

    return run


@pytest.fixture
def cli_process(tmp_path: Path) -> Cli:
    """Call `python -m email_infrastructure ARGS...` as a subprocess with a clean environment."""

    def run(
        *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "email_infrastructure", *args],
            capture_output=True,
            text=True,
            cwd=cwd or tmp_path,
            env=clean_environment(tmp_path / "data", env),
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def mailcow(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeMailcow, str]]:
    """A faithful fake Mailcow API on loopback, its read-write key in MAILCOW_TEST_KEY: (fake, base URL)."""
    fake = FakeMailcow()
    monkeypatch.setenv("MAILCOW_TEST_KEY", fake.rw_key)
    with FakeServer(fake) as server:
        yield fake, server.url

"""Real Redis and PostgreSQL for the worker tests; worker and scheduler processes started by the tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.settings import Settings
from email_infrastructure.services.app import App
from email_infrastructure.storage.db import open_database
from tests.conftest import service_missing

ROOT = Path(__file__).parents[2]
REDIS_URL = os.environ.get("EMAIL_INFRA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_TASKS = "tests.workers.effect_tasks"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing(f"Redis at {REDIS_URL}: {exc}")
    prefix = f"ei-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
        client.close()


async def migrated_scale_settings(settings: Settings, database_url: str, redis_prefix: str, **extra: Any) -> Settings:
    """`settings` on this database (migrated) and Redis (own prefix); dead workers' jobs swept each second."""
    update = {"database_url": database_url, "redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    scaled = settings.model_copy(update={**update, "worker_sweep_seconds": 1, **extra})
    db = await open_database(scaled, migrate=True)
    await db.close()
    return scaled


@pytest.fixture
async def scale_settings(settings: Settings, migrated_postgres_url: str, redis_prefix: str) -> Settings:
    """PostgreSQL (migrated, no rows) + Redis (own prefix); dead workers' jobs swept each second."""
    return await migrated_scale_settings(settings, migrated_postgres_url, redis_prefix)


@pytest.fixture
async def scale_app(scale_settings: Settings) -> AsyncIterator[App]:
    """An App on the scaled settings (the test's side: enqueueing, reading results)."""
    app = App(scale_settings)
    yield app
    await app.close()


def process_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a worker or scheduler process of this test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") or k.startswith("EMAIL_INFRA_TEST_")}
    env.update(
        {
            "EMAIL_INFRA_DATA_DIR": str(settings.data_dir),
            "EMAIL_INFRA_DATABASE_URL": str(settings.database_url),
            "REDIS_URL": str(settings.redis_url),
            "EMAIL_INFRA_REDIS_PREFIX": settings.redis_prefix,
            "EMAIL_INFRA_WORKER_SWEEP_SECONDS": str(settings.worker_sweep_seconds),
            "EMAIL_INFRA_NAMESERVERS": ",".join(settings.nameservers) or "127.0.0.1:9",
            # this checkout's code, also from a worktree whose venv was installed from another one
            "PYTHONPATH": os.pathsep.join((str(ROOT / "src"), str(ROOT))),
        }
    )
    env.update(extra)
    return env


class Processes:
    """`email-infra` processes of one test; whatever is still running at the end is killed."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        """`email-infra ARGS` in the background, its output in a log file of the test."""
        log = self.logs / f"process-{len(self.started)}.log"
        process = subprocess.Popen(
            [sys.executable, "-m", "email_infrastructure", *args],
            env=process_env(self.settings, **env),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            cwd=self.logs,
        )
        self.started.append(process)
        return process

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        """A worker that also runs the test task bodies."""
        return self.start("worker", "--tasks", TEST_TASKS, "--grace", "2", *args)

    def output(self, process: subprocess.Popen[bytes]) -> str:
        """What a process printed so far."""
        return (self.logs / f"process-{self.started.index(process)}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        """Kill what is left (a failed test must not leave workers behind)."""
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=30)


@pytest.fixture
def processes(scale_settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    """Start `email-infra` processes against this test's Redis prefix and database."""
    logs = tmp_path / "processes"
    logs.mkdir()
    started = Processes(scale_settings, logs)
    try:
        yield started
    finally:
        started.stop_all()


async def until(condition: Callable[[], Awaitable[Any]], what: str, *, seconds: float = 90.0) -> Any:
    """Poll `condition` until it returns something true; fail naming `what` if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        value = await condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        await asyncio.sleep(0.1)


async def exited(process: subprocess.Popen[bytes], seconds: float = 60.0) -> int:
    """The exit code of a process, waited for without blocking the event loop."""
    return await asyncio.to_thread(process.wait, seconds)

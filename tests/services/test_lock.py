"""One apply at a time per database, across processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from email_infrastructure.core.database import create_engine
from email_infrastructure.storage.locks import APPLY_LOCK, database_lock
from tests.services.conftest import QUICKSTART


@pytest.fixture(params=["sqlite", "postgresql"])
def state_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """Environment of CLI processes sharing one state: a fresh data dir, on SQLite or PostgreSQL."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMAIL_INFRA_") and k != "DATABASE_URL"}
    env["EMAIL_INFRA_DATA_DIR"] = str(tmp_path / "data")
    if request.param == "postgresql":
        env["DATABASE_URL"] = str(request.getfixturevalue("migrated_postgres_url"))
    return env


def start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "email_infrastructure", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_applies_started_together_apply_once_and_log_each_event_once(
    state_env: dict[str, str], tmp_path: Path
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART)
    runs = [start(state_env, tmp_path, "apply", "-f", str(inventory), "--yes", "--json") for _ in range(2)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in runs]
    codes = sorted(code for code, _, _ in results)
    assert codes in ([0, 0], [0, 2]), results
    statuses = []
    for code, out, err in results:
        if code == 2:
            assert "locked by email-infra apply" in err
            continue
        statuses.append({o["status"] for o in json.loads(out)["outcomes"].values()})
    # exactly one process applied; the other (after waiting) found nothing left to do
    assert sorted(statuses, key=len) in ([{"applied"}], [{"unchanged"}, {"applied"}], [{"applied"}, {"unchanged"}])
    events = start(state_env, tmp_path, "plan", "--json")
    out, err = events.communicate(timeout=60)
    assert events.returncode == 0, err
    assert json.loads(out)["summary"] == {"create": 0, "update": 0, "delete": 0}
    assert _created_events(state_env) == 25


def _created_events(env: dict[str, str]) -> int:
    import asyncio

    from email_infrastructure.core.settings import Settings
    from email_infrastructure.services.app import open_app

    async def count() -> int:
        settings = Settings(
            data_dir=Path(env["EMAIL_INFRA_DATA_DIR"]),
            database_url=env.get("DATABASE_URL"),
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings takes _env_file, its signature does not show it
        )
        async with open_app(settings) as app, app.uow() as uow:
            return sum(e.topic == "dns.record.created" for e in await uow.events.recent(limit=10_000))

    return asyncio.run(count())


async def test_a_second_apply_waits_a_bounded_time_then_says_who_holds_the_lock(
    state_env: dict[str, str], tmp_path: Path
) -> None:
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(QUICKSTART)
    first = start(state_env, tmp_path, "domain", "list")  # creates (and on SQLite migrates) the database
    assert first.wait(timeout=60) == 0, first.communicate()
    url = state_env.get("DATABASE_URL") or f"sqlite:///{Path(state_env['EMAIL_INFRA_DATA_DIR']) / 'email-infra.db'}"
    engine = create_engine(url)
    try:
        async with database_lock(engine, APPLY_LOCK, "a test holding the lock", timeout=5):
            second = start(state_env, tmp_path, "apply", "-f", str(inventory), "--yes", "--lock-timeout", "1")
            out, err = await _communicate(second)
    finally:
        await engine.dispose()
    assert second.returncode == 2, out + err
    assert "locked by a test holding the lock" in err
    assert "waited 1 s" in err
    assert not (Path(state_env["EMAIL_INFRA_DATA_DIR"]) / "zones").exists()


async def _communicate(process: subprocess.Popen[str]) -> tuple[str, str]:
    import asyncio

    return await asyncio.to_thread(process.communicate, timeout=60)

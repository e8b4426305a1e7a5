"""services/jobs.py: idempotent submit, the in-process runner, jobs left behind by a stopped process."""

from __future__ import annotations

from typing import Any

import pytest

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.services import jobs
from email_infrastructure.services.app import App


async def test_submit_with_a_job_key_returns_the_first_job(app: App) -> None:
    first, created = await jobs.submit(app, "apply", {"checksum": "sha256:x"}, key_name="k", job_key="apply:1")
    second, again = await jobs.submit(app, "apply", {"checksum": "sha256:y"}, key_name="k", job_key="apply:1")
    assert created and not again and second.id == first.id and second.params == {"checksum": "sha256:x"}
    with pytest.raises(UserError, match="unknown job kind"):
        await jobs.submit(app, "reboot", {}, key_name="k")
    with pytest.raises(NotFoundError):
        await jobs.get_job(app, first.id, kind="plan")


async def test_the_runner_runs_queued_jobs_and_fails_ones_a_dead_process_left_running(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    async def fake(app: App, params: dict[str, Any], report: Any) -> tuple[bool, dict[str, Any], str | None]:
        report("step one")
        calls.append(params)
        return True, {"echo": params["n"]}, None

    monkeypatch.setitem(jobs.HANDLERS, "apply", fake)
    left_queued, _ = await jobs.submit(app, "apply", {"n": 1}, key_name="k")
    left_running, _ = await jobs.submit(app, "apply", {"n": 2}, key_name="k")
    await jobs._update(app, left_running.id, status="running")  # its process died mid-run

    runner = jobs.InProcessRunner(app)
    await runner.start()
    await runner.idle()
    done = await jobs.get_job(app, left_queued.id)
    assert (done.status, done.result, done.progress["last"]) == ("succeeded", {"echo": 1}, "step one")
    dead = await jobs.get_job(app, left_running.id)
    assert dead.status == "failed" and "interrupted" in (dead.error or "")
    assert calls == [{"n": 1}]  # the interrupted one is not re-run behind anyone's back
    await runner.stop()


async def test_a_handler_that_raises_fails_the_job_without_internals(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(app: App, params: dict[str, Any], report: Any) -> tuple[bool, dict[str, Any], str | None]:
        raise RuntimeError("password=hunter2 in a traceback")

    monkeypatch.setitem(jobs.HANDLERS, "apply", broken)
    job, _ = await jobs.submit(app, "apply", {}, key_name="k")
    finished = await jobs.run_job(app, job.id)
    assert finished.status == "failed" and finished.error == "internal error: RuntimeError"

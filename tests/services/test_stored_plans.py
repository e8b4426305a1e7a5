"""services/plans.py stored plans: plan and store, read by id, apply by id as a job; a moved checksum fails the job."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.services import jobs, plans
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.domains import add_domain
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.plans import get_stored_plan, plan_and_store, submit_apply
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.storage.api_repositories import Jobs
from tests.services.conftest import WriteInventory


async def test_a_stored_plan_is_read_back_and_applied_by_id_once(app: App, write_inventory: WriteInventory) -> None:
    await import_inventory(app, write_inventory())
    stored = await plan_and_store(app, key_name="alice")
    assert stored.checksum.startswith("sha256:") and stored.has_changes and stored.summary["create"] > 0
    assert stored.plan["checksum"] == stored.checksum and stored.key_name == "alice"
    assert await get_stored_plan(app, stored.id) == stored
    async with app.uow() as uow:  # a plan is not a job any more
        assert await Jobs(uow.session).get(stored.id) is None
    zones = app.settings.data_dir / "zones"
    assert not (zones / "acme-mail.test.zone").exists()  # planning wrote nothing

    queue = InProcessQueue(app)
    job = await submit_apply(app, queue, stored.id, key_name="bob")
    assert (job.kind, job.key_name, job.params) == ("apply", "bob", {"plan": stored.id, "checksum": stored.checksum})
    assert (await submit_apply(app, queue, stored.id, key_name="bob")).id == job.id  # idempotent: apply:<plan id>
    await queue.join()
    done = await jobs.get_job(app, job.id)
    assert done.status == "succeeded", done.error
    assert done.result is not None and done.result["outcomes"]["dns.zone:acme-mail.test"]["status"] == "applied"
    assert "v=DMARC1" in (zones / "acme-mail.test.zone").read_text()
    assert not (await plan_and_store(app, key_name="alice")).has_changes


async def test_a_plan_whose_checksum_moved_fails_its_job_and_applies_nothing(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    stored = await plan_and_store(app, key_name="alice")
    await add_domain(app, "late-addition.test")  # the desired state moves on
    queue = InProcessQueue(app)
    job = await submit_apply(app, queue, stored.id, key_name="bob")
    await queue.join()
    done = await jobs.get_job(app, job.id)
    assert done.status == "failed" and "the plan changed since it was shown" in (done.error or "")
    assert not (app.settings.data_dir / "zones" / "acme-mail.test.zone").exists()


async def test_an_unknown_plan_is_not_found(app: App) -> None:
    with pytest.raises(NotFoundError):
        await get_stored_plan(app, "nope")
    with pytest.raises(NotFoundError):
        await submit_apply(app, InProcessQueue(app), "nope", key_name="bob")


class Lost(InProcessQueue):
    """A queue whose submits are left for another process to run (here: the test)."""

    async def enqueue(self, task_name: str, params: Any, key: str, *, dedup_ttl: int | None = None) -> str | None:
        return key


async def test_an_apply_queued_by_the_previous_release_runs_its_job_row(
    app: App, write_inventory: WriteInventory
) -> None:
    await import_inventory(app, write_inventory())
    stored = await plan_and_store(app, key_name="alice")
    job = await submit_apply(app, Lost(app), stored.id, key_name="bob")
    # what the previous release put on saq for an API apply: `apply_plan` with the job's id and lease
    summary = await TASKS["apply_plan"].body(app, job_key=job.id, job_id=job.id, lease=30.0)
    assert summary["status"] == "succeeded" and summary["job_id"] == job.id
    assert (await jobs.get_job(app, job.id)).status == "succeeded"


async def test_an_api_apply_reaches_plans_apply_in_three_hops_of_our_code(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    callers: list[str] = []

    async def apply(app: App, **kwargs: Any) -> None:
        frames = [f for f in inspect.stack() if "email_infrastructure" in f.filename]
        callers.extend(f.function for f in reversed(frames))
        raise UserError("recorded")

    stored = await plan_and_store(app, key_name="alice")
    monkeypatch.setattr(plans, "apply", apply)
    queue = InProcessQueue(app)
    await submit_apply(app, queue, stored.id, key_name="bob")
    await queue.join()
    # the queue's runner (`_run`, which awaits its run in a task of its own: asyncio.wait_for) → the
    # generic job-row wrapper → the service function → plans.apply
    assert callers == ["run_job", "apply_stored_plan"]

"""The history of plans and jobs (newest first, paged, one workspace's) and a plan's or job's steps
with failures and changes first, unchanged steps counted. SQLite and PostgreSQL (the `app` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from email_infrastructure.services import workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.job_history import UNCHANGED_LISTED, history, job_sections, plan_sections
from email_infrastructure.services.jobs import get_job
from email_infrastructure.services.scope import acting_in
from email_infrastructure.storage.api_repositories import Jobs, StoredPlans
from email_infrastructure.storage.models import JobRecord, StoredPlanRecord

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def big_plan(
    unchanged: int = 145, failing: str = "dns.zone:broken.test", changing: str = "dns.zone:new.test"
) -> dict[str, Any]:
    """A plan as `Plan.to_json` gives it: one step that failed to plan, one that changes, the rest unchanged."""
    steps: list[dict[str, Any]] = [
        {"key": f"dns.zone:same-{i:03d}.test", "component": "dns", "changes": [], "notes": [], "error": None}
        for i in range(unchanged)
    ]
    change = {"action": "create", "resource": "_dmarc.new.test TXT", "old": None, "new": {"values": ["v=DMARC1"]}}
    steps.append({"key": changing, "component": "dns", "changes": [change], "notes": [], "error": None})
    steps.append({"key": failing, "component": "dns", "changes": [], "notes": [], "error": "401 from the provider"})
    steps.append({"key": "mail.domain:gone.test", "component": "mail", "changes": [], "notes": ["use --prune"]})
    steps.sort(key=lambda s: s["key"])  # plans list steps by key: the failure sits among the unchanged
    return {"checksum": "sha256:abc", "summary": {"create": 1, "update": 0, "delete": 0}, "steps": steps, "unsafe": []}


def outcomes(unchanged: int = 145) -> dict[str, Any]:
    """An apply job's result as run_job stores it: step key → outcome."""
    found: dict[str, Any] = {
        f"dns.zone:same-{i:03d}.test": {"status": "unchanged", "counts": {}} for i in range(unchanged)
    }
    found["dns.zone:new.test"] = {"status": "applied", "counts": {"create": 1}}
    found["dns.zone:broken.test"] = {"status": "failed", "error": "401 from the provider", "counts": {}}
    found["mail.mailboxes:new.test"] = {"status": "skipped", "error": "a step it depends on failed"}
    return {"outcomes": found}


async def store(
    app: App,
    workspace: str,
    *,
    plan_id: str,
    job_id: str | None,
    at: datetime,
    key_name: str = "ann",
    status: str = "failed",
    error: str | None = "1 step(s) failed: dns.zone:broken.test",
    plan: dict[str, Any] | None = None,
) -> None:
    """Store a plan made at `at` and (with `job_id`) its apply job a minute later, as the services write them."""
    with acting_in(workspace):
        async with app.uow() as uow:
            StoredPlans(uow.session).add(
                StoredPlanRecord(
                    id=plan_id, checksum="sha256:abc", plan=plan or big_plan(), key_name=key_name, created_at=at
                )
            )
            if job_id is not None:
                Jobs(uow.session).add(
                    JobRecord(
                        id=job_id,
                        kind="apply",
                        params={"plan": plan_id, "checksum": "sha256:abc"},
                        status=status,
                        progress={},
                        result=outcomes(),
                        error=error,
                        key_name=key_name,
                        job_key=f"apply:{plan_id}",
                        created_at=at + timedelta(minutes=1),
                        updated_at=at + timedelta(minutes=1),
                        finished_at=at + timedelta(minutes=2),
                    )
                )
            await uow.commit()


async def test_the_history_lists_plans_and_jobs_newest_first_with_who_and_result(app: App) -> None:
    await workspaces.create(app, "alpha")
    await store(app, "alpha", plan_id="p1", job_id="j1", at=T0, key_name="ann")
    await store(app, "alpha", plan_id="p2", job_id=None, at=T0 + timedelta(hours=1), key_name="bob")
    with acting_in("alpha"):
        found = await history(app, page=1, per_page=50)
    assert found.total == 3 and found.pages == 1
    assert [(r.kind, r.id) for r in found.rows] == [("plan", "p2"), ("apply", "j1"), ("plan", "p1")]
    p2, j1, p1 = found.rows
    assert (p2.key_name, p2.result, p2.state, p2.related) == ("bob", "1 create", "warning", None)
    assert j1.key_name == "ann" and j1.result.startswith("failed: 1 step(s) failed") and j1.state == "error"
    assert j1.related == ("the plan", "/plans/p1") and j1.path == "/jobs/j1"
    assert p1.related == ("apply failed", "/jobs/j1") and p1.state == "error"


async def test_the_history_pages_without_overlap(app: App) -> None:
    await workspaces.create(app, "alpha")
    for i in range(5):
        await store(app, "alpha", plan_id=f"p{i}", job_id=None, at=T0)  # one instant: the id breaks the tie
    with acting_in("alpha"):
        pages = [await history(app, page=n, per_page=2) for n in (1, 2, 3)]
    assert [p.pages for p in pages] == [3, 3, 3]
    ids = [r.id for p in pages for r in p.rows]
    assert ids == ["p4", "p3", "p2", "p1", "p0"]


async def test_a_workspace_sees_only_its_own_plans_and_jobs(app: App) -> None:
    await workspaces.create(app, "alpha")
    await workspaces.create(app, "beta")
    await store(app, "alpha", plan_id="pa", job_id="ja", at=T0)
    await store(app, "beta", plan_id="pb", job_id=None, at=T0)
    with acting_in("beta"):
        found = await history(app)
    assert found.total == 1 and [r.id for r in found.rows] == ["pb"]
    assert found.rows[0].related is None  # alpha's apply of another plan is not beta's


def test_a_plan_lists_failures_then_changes_and_counts_the_unchanged() -> None:
    sections = plan_sections(big_plan(unchanged=145))
    assert [s["key"] for s in sections.failed] == ["dns.zone:broken.test"]
    assert [s["key"] for s in sections.changed] == ["dns.zone:new.test"]
    assert [s["key"] for s in sections.other] == ["mail.domain:gone.test"]
    assert sections.unchanged == 145 and len(sections.unchanged_keys) == 145


def test_a_huge_plan_lists_only_the_first_unchanged_keys() -> None:
    sections = plan_sections(big_plan(unchanged=UNCHANGED_LISTED + 10))
    assert sections.unchanged == UNCHANGED_LISTED + 10 and len(sections.unchanged_keys) == UNCHANGED_LISTED


async def test_a_job_lists_failed_then_applied_then_skipped_and_counts_the_unchanged(app: App) -> None:
    await workspaces.create(app, "alpha")
    await store(app, "alpha", plan_id="p1", job_id="j1", at=T0)
    with acting_in("alpha"):
        sections = job_sections(await get_job(app, "j1"))
    assert [o["key"] for o in sections.failed] == ["dns.zone:broken.test"]
    assert [o["key"] for o in sections.changed] == ["dns.zone:new.test"]
    assert [o["key"] for o in sections.other] == ["mail.mailboxes:new.test"]
    assert sections.unchanged == 145

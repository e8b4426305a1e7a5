"""The dashboard's plans and jobs: `/jobs` lists them newest first (who, when, result); a plan's and a
job's page lead with failures and changes and fold the unchanged steps into a count."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from fastapi.testclient import TestClient

from email_infrastructure.services import workspaces
from email_infrastructure.services.apikeys import ApiKeyService
from email_infrastructure.services.app import App
from tests.dashboard.conftest import SCRIPT, Seeded, login
from tests.services.test_job_history import T0, store


def _seed(seeded: Seeded) -> str:
    """In `default`: plan p1 (145 unchanged steps) applied by job j1 (failed), then plan p2 by a hostile key
    name; in `other`: plan po. The key of `other` (read scope) is returned."""

    async def run() -> str:
        app = App(seeded.settings)
        try:
            await store(app, "default", plan_id="p1", job_id="j1", at=T0, key_name="dash-write")
            await store(app, "default", plan_id="p2", job_id=None, at=T0 + timedelta(hours=1), key_name=SCRIPT)
            await workspaces.create(app, "other")
            await store(app, "other", plan_id="po", job_id="jo", at=T0, key_name="other-ann")
            return (await ApiKeyService(app).create("other-read", "read", source="test", workspace="other")).key
        finally:
            await app.close()

    return asyncio.run(run())


def test_the_jobs_page_lists_plans_and_jobs_newest_first_and_escapes(client: TestClient, seeded: Seeded) -> None:
    _seed(seeded)
    login(client, seeded.keys["read"])  # read scope is enough to look
    page = client.get("/jobs")
    assert page.status_code == 200
    html = page.text
    rows = [html.index(f'data-id="{i}"') for i in ("p2", "j1", "p1")]
    assert rows == sorted(rows)  # newest first
    assert 'data-id="po"' not in html and "other-ann" not in html
    assert SCRIPT not in html and "&lt;script&gt;" in html
    assert "apply failed" in html and 'href="/jobs/j1"' in html and 'href="/plans/p1"' in html
    assert "3 plan(s) and job(s)" in html
    assert client.get("/jobs", params={"page": 0}).status_code == 422


def test_a_plan_with_many_unchanged_steps_shows_the_count_and_failures_first(
    client: TestClient, seeded: Seeded
) -> None:
    _seed(seeded)
    login(client, seeded.keys["write"])
    html = client.get("/plans/p1").text
    assert "145 unchanged" in html and '<details class="unchanged"' in html
    assert 'data-step="dns.zone:same-000.test"' not in html  # no card per unchanged step
    failed, changed = html.index('data-step="dns.zone:broken.test"'), html.index('data-step="dns.zone:new.test"')
    assert failed < changed  # broken.test sorts after new.test in the plan: the failure is moved up
    assert html.index("145 unchanged") > changed
    assert 'id="apply"' in html  # a plan with changes keeps its Apply button


def test_a_job_page_shows_failures_first_and_the_unchanged_as_a_count(client: TestClient, seeded: Seeded) -> None:
    _seed(seeded)
    login(client, seeded.keys["read"])
    for path in ("/jobs/j1", "/jobs/j1/progress"):
        html = client.get(path).text
        assert "145 unchanged" in html
        assert 'data-step="dns.zone:same-000.test"' not in html
        steps = [
            html.index(f'data-step="{k}"')
            for k in ("dns.zone:broken.test", "dns.zone:new.test", "mail.mailboxes:new.test")
        ]
        assert steps == sorted(steps)  # failed, applied, skipped


def test_a_workspace_key_sees_only_its_workspaces_history(client: TestClient, seeded: Seeded) -> None:
    other = _seed(seeded)
    login(client, other)
    html = client.get("/jobs").text
    assert 'data-id="po"' in html and 'data-id="jo"' in html
    assert 'data-id="p1"' not in html and "dash-write" not in html
    for path in ("/plans/p1", "/jobs/j1", "/workspaces/default/jobs"):
        assert client.get(path).status_code == 404, path

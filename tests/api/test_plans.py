"""Plan → apply as a job → poll until it succeeded: the zone files are written; a changed plan is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.domains import add_domain
from tests.api.conftest import Api
from tests.services.conftest import WriteInventory


async def poll(api: Api, job_id: str, rounds: int = 600) -> dict[str, Any]:
    for _ in range(rounds):
        response = await api.client.get(f"/api/v1/jobs/{job_id}", headers=api.auth())
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()["data"]
        if job["status"] in ("succeeded", "failed"):
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


async def test_plan_apply_job_poll_succeeded_on_zone_files(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    made = await api.client.post("/api/v1/plans", headers=api.auth("read"))
    assert made.status_code == 201, made.text
    plan = made.json()["data"]
    assert plan["checksum"].startswith("sha256:") and plan["has_changes"] is True
    assert plan["summary"]["create"] > 0
    assert {s["key"] for s in plan["plan"]["steps"]} >= {"dns.zone:acme-mail.test", "dns.zone:acme-outreach.test"}
    zones = api.app.settings.data_dir / "zones"
    assert not (zones / "acme-mail.test.zone").exists()  # planning wrote nothing

    again = await api.client.get(f"/api/v1/plans/{plan['id']}", headers=api.auth())
    assert again.json()["data"]["checksum"] == plan["checksum"]

    started = await api.client.post(f"/api/v1/plans/{plan['id']}/apply", headers=api.auth("write"))
    assert started.status_code == 202, started.text
    job = started.json()["data"]
    assert job["kind"] == "apply" and job["status"] in ("queued", "running", "succeeded")
    assert job["key_name"] == "test-write-0" and job["params"]["checksum"] == plan["checksum"]
    twice = await api.client.post(f"/api/v1/plans/{plan['id']}/apply", headers=api.auth("write"))
    assert twice.json()["data"]["id"] == job["id"]  # the same plan is applied once

    done = await poll(api, job["id"])
    assert done["status"] == "succeeded", done
    assert done["result"]["outcomes"]["dns.zone:acme-mail.test"]["status"] == "applied"
    assert done["progress"]["steps"] > 0 and done["finished_at"]
    text = (zones / "acme-mail.test.zone").read_text()
    assert "v=DMARC1" in text and "v=DKIM1" in text

    after = (await api.client.post("/api/v1/plans", headers=api.auth("read"))).json()["data"]
    assert after["has_changes"] is False  # applied: nothing left to do
    events = (await api.client.get("/api/v1/events?topic=api.job.", headers=api.auth())).json()["data"]["items"]
    assert {(e["topic"], e["source"]) for e in events} == {
        ("api.job.queued", "api:test-write-0"),
        ("api.job.finished", "api:test-write-0"),
    }


async def test_a_plan_that_changed_since_it_was_shown_is_not_applied(api: Api, write_inventory: WriteInventory) -> None:
    await import_inventory(api.app, write_inventory())
    plan = (await api.client.post("/api/v1/plans", headers=api.auth())).json()["data"]
    await add_domain(api.app, "late-addition.test")  # the desired state moves on
    job = (await api.client.post(f"/api/v1/plans/{plan['id']}/apply", headers=api.auth("write"))).json()["data"]
    done = await poll(api, job["id"])
    assert done["status"] == "failed" and "the plan changed since it was shown" in done["error"]
    assert not (api.app.settings.data_dir / "zones" / "acme-mail.test.zone").exists()


async def test_unknown_plans_and_jobs_are_404(api: Api) -> None:
    assert (await api.client.get("/api/v1/plans/nope", headers=api.auth())).status_code == 404
    assert (await api.client.post("/api/v1/plans/nope/apply", headers=api.auth("write"))).status_code == 404
    assert (await api.client.get("/api/v1/jobs/nope", headers=api.auth())).status_code == 404

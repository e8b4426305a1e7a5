"""Workspaces across processes (real Redis, PostgreSQL, `email-infra worker` and `scheduler`
processes): a worker shares no context with the process that enqueued, so each job and batch
names its workspace; a worker runs each in its own workspace."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from email_infrastructure.services.app import App
from email_infrastructure.services.jobs import get_job
from email_infrastructure.services.monitoring import check_states
from email_infrastructure.services.plans import plan_and_store, submit_apply
from email_infrastructure.services.scope import acting_in
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.workers.queue import SaqQueue
from tests.fixtures.pdns import PowerDns
from tests.workers.conftest import Processes, exited, until
from tests.workers.fleet import steady_domains
from tests.workers.test_workspaces import store

#: the families of a domain without a mail backend
FAMILIES = {"blacklist", "delegation", "dns", "ptr", "registration", "tls"}


async def test_a_worker_process_applies_each_job_in_its_own_workspace(
    scale_app: App, processes: Processes, tmp_path: Path
) -> None:
    domains = {"acme": "a.procs.test", "beta": "b.procs.test"}
    for name, domain in domains.items():
        await store(scale_app, tmp_path, name, [domain])
    queue = SaqQueue(scale_app.settings, TASKS)
    jobs = {}
    try:
        for name in domains:
            with acting_in(name):
                stored = await plan_and_store(scale_app, key_name="k")
                jobs[name] = (await submit_apply(scale_app, queue, stored.id, key_name="k")).id
    finally:
        await queue.close()
    worker = processes.start("worker", "--grace", "2")
    for name, domain in domains.items():

        async def done(name: str = name) -> bool:
            with acting_in(name):
                return (await get_job(scale_app, jobs[name])).done

        await until(done, f"{name}'s job to finish", seconds=120)
        with acting_in(name):
            job = await get_job(scale_app, jobs[name])
        assert job.status == "succeeded", (job.error, processes.output(worker))
        assert sorted(job.result or {}) and f"dns.zone:{domain}" in (job.result or {})["outcomes"]
        assert "v=spf1" in (scale_app.settings.data_dir / "zones" / f"{domain}.zone").read_text()
        with acting_in(name):  # the plan in this workspace is now empty: nothing of the other's in it
            assert not (await plan_and_store(scale_app, key_name="k")).has_changes
    worker.send_signal(signal.SIGTERM)
    assert await exited(worker) == 0, processes.output(worker)


async def test_the_scheduler_process_watches_every_workspace_and_workers_store_in_each(
    scale_app: App, processes: Processes, pdns: PowerDns, tmp_path: Path
) -> None:
    names = steady_domains(3, suffix="ws.fleet.test")
    domains = {"acme": names[:2], "beta": names[2:]}
    pdns.replace_zones({d: [(d, "TXT", '"v=spf1 -all"', 0)] for d in names})
    nameserver = f"{pdns.address}:{pdns.dns_port}"
    for name, fleet in domains.items():
        await store(scale_app, tmp_path, name, fleet, nameserver=nameserver)
    scheduler = processes.start("scheduler", "--once", "--json")
    assert await exited(scheduler) == 0, processes.output(scheduler)
    enqueued = json.loads(processes.output(scheduler))
    assert enqueued["enqueued"] == len(names) * len(FAMILIES)
    assert {key.split(":")[2] for key in enqueued["keys"]} == set(names)

    worker = processes.start("worker", "--burst", "--grace", "2")
    assert await exited(worker, 180) == 0, processes.output(worker)
    for name, fleet in domains.items():
        with acting_in(name):
            states = await check_states(scale_app)
        assert {s.subject for s in states if s.subject.endswith(".test")} == set(fleet), (name, states)

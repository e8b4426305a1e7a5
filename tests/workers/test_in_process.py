"""Without REDIS_URL the in-process queue executes the same task bodies; results are stored once per key."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from email_infrastructure.core.errors import UserError
from email_infrastructure.services.app import App
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.monitoring import check_schedule
from email_infrastructure.services.plans import apply_stored_plan, plan_and_store
from email_infrastructure.services.tasks import TASKS
from email_infrastructure.storage.models import CheckResultRecord
from email_infrastructure.workers.queue import open_queue
from email_infrastructure.workers.scheduler import Scheduler
from tests.fixtures.pdns import PowerDns
from tests.workers.fleet import store_fleet

DOMAIN = "inproc.fleet.test"


async def result_rows(app: App, check: str | None = None) -> int:
    async with app.uow() as uow:
        query = select(func.count()).select_from(CheckResultRecord).where(CheckResultRecord.subject == DOMAIN)
        if check:
            query = query.where(CheckResultRecord.check == check)
        return int(await uow.session.scalar(query) or 0)


async def test_the_scheduler_runs_checks_in_process_and_stores_each_run_once(
    app: App, pdns: PowerDns, tmp_path: Path
) -> None:
    pdns.replace_zones(
        {
            DOMAIN: [
                (DOMAIN, "MX", f"mail.{DOMAIN}", 10),
                (DOMAIN, "TXT", '"v=spf1 ip4:127.0.0.10 -all"', 0),
                (f"_dmarc.{DOMAIN}", "TXT", '"v=DMARC1; p=none"', 0),
                (f"mail.{DOMAIN}", "A", "127.0.0.10", 0),
            ]
        }
    )
    await store_fleet(app, tmp_path, [DOMAIN], nameserver=f"{pdns.address}:{pdns.dns_port}")
    queue = open_queue(app)
    assert isinstance(queue, InProcessQueue)  # no REDIS_URL in the test's settings
    scheduler = Scheduler(queue)
    schedule = await check_schedule(app)
    first = await scheduler.tick(schedule)
    await queue.join()
    assert first.enqueued == 6 and first.jobs == 6  # a batch per family
    assert {r["status"] for r in queue.results.values()} == {"complete"}, queue.results
    dns_key = next(k for k in first.keys if k.startswith("check:dns:"))
    dns_result = next(r["result"] for r in queue.results.values() if r["result"]["family"] == "dns")
    assert dns_result["subjects"] == 1 and dns_result["results"] > 0
    stored = await result_rows(app)
    assert await result_rows(app, "spf") == 1
    assert (await scheduler.tick(schedule)).enqueued == 0  # same interval

    # the same run delivered again (at-least-once): nothing more is stored
    slot = int(dns_key.rsplit(":", 1)[1])
    again = await TASKS["run_checks"].body(app, job_key="again", family="dns", items=[[DOMAIN, slot]])
    assert again["stored_before"] == [DOMAIN] and again["results"] == 0
    await TASKS["run_check"].body(app, job_key=dns_key, family="dns", subject=DOMAIN)
    assert await result_rows(app) == stored
    # another run (a later interval) is stored
    await TASKS["run_check"].body(app, job_key=dns_key + "-next", family="dns", subject=DOMAIN)
    assert await result_rows(app, "spf") == 2


async def test_an_apply_delivered_again_after_a_takeover_converges(app: App, tmp_path: Path) -> None:
    await store_fleet(app, tmp_path, [DOMAIN])
    stored = await plan_and_store(app, key_name="k")
    first = await apply_stored_plan(app, plan=stored.id)
    assert first.status == "applied"
    # a run taking over a killed worker's apply re-plans what is left: nothing
    again = await apply_stored_plan(app, plan=stored.id, resumed=True)
    assert again.status == "unchanged"
    with pytest.raises(UserError, match="plan changed"):  # not resumed: the checksum shown must still hold
        await apply_stored_plan(app, plan=stored.id)


async def test_an_apply_enqueued_directly_delivered_twice_converges(app: App, tmp_path: Path) -> None:
    await store_fleet(app, tmp_path, [DOMAIN])
    body = TASKS["apply_plan"].body
    first = await body(app, job_key="apply:1")
    assert first["status"] == "applied", first
    again = await body(app, job_key="apply:1")  # re-planned: nothing left to do
    assert again["status"] == "unchanged", again
    stale = await body(app, job_key="apply:2", checksum="sha256:" + "0" * 64)
    assert stale["status"] == "refused" and "plan changed" in stale["error"]


async def test_a_check_of_a_domain_removed_since_it_was_enqueued_is_skipped(app: App, tmp_path: Path) -> None:
    await store_fleet(app, tmp_path, [DOMAIN])
    outcome = await TASKS["run_check"].body(
        app, job_key="check:dns:gone.fleet.test:1", family="dns", subject="gone.fleet.test"
    )
    assert outcome["skipped"] == "no longer in the desired state"
    async with app.uow() as uow:
        query = select(func.count()).select_from(CheckResultRecord)
        assert await uow.session.scalar(query) == 0


def open_sockets() -> int:
    """Sockets this process holds."""
    import os

    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            continue
    return count


async def test_a_worker_running_many_checks_keeps_its_sockets(app: App, pdns: PowerDns, tmp_path: Path) -> None:
    # each run's first queries arrive together; each used to open a socket of its own, and a
    # worker ran out of descriptors after some hundred checks
    domains = [f"fd{i}.fleet.test" for i in range(6)]
    pdns.replace_zones({d: [(d, "TXT", '"v=spf1 -all"', 0)] for d in domains})
    await store_fleet(app, tmp_path, domains, nameserver=f"{pdns.address}:{pdns.dns_port}")
    body = TASKS["run_check"].body
    await body(app, job_key="warm", family="dns", subject=domains[0])
    before = open_sockets()
    for i, domain in enumerate(domains[1:]):
        await body(app, job_key=f"fd:{i}", family="dns", subject=domain)
    assert open_sockets() <= before + 1

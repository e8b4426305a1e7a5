"""Background work per workspace, in one process (the in-process queue, SQLite and PostgreSQL):
a job runs in the workspace it was submitted in, whoever enqueues it again; job keys are per
workspace; the scheduler watches every workspace in turns; each batch's checks, states and
alerts stay in their workspace (two workspaces' webhooks, one process)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.core.events import Event
from email_infrastructure.core.inventory import load_inventory
from email_infrastructure.reconcile.registry import provider_schemas
from email_infrastructure.services import monitoring, workspace_removal, workspaces
from email_infrastructure.services.app import App
from email_infrastructure.services.desired import import_inventory
from email_infrastructure.services.jobs import entry, get_job, recover, submit
from email_infrastructure.services.local_queue import InProcessQueue
from email_infrastructure.services.monitoring import check_schedules, check_states
from email_infrastructure.services.plans import plan_and_store, submit_apply
from email_infrastructure.services.queue import in_workspace
from email_infrastructure.services.scope import EVERY, Scope, acting_in
from email_infrastructure.services.tasks import TASKS, check_key
from email_infrastructure.workers.scheduler import Scheduler, offset, slot
from tests.dmarc.test_alerts import Hook
from tests.fakes.http_server import FakeServer
from tests.fixtures.pdns import PowerDns
from tests.workers import test_server_checks as server_checks
from tests.workers.fleet import fleet_yaml

NOW = 5_000_000.0


class Recorder(InProcessQueue):
    """An in-process queue that records what is enqueued (with the workspace it names) instead of running it."""

    def __init__(self, app: App) -> None:
        super().__init__(app, TASKS)
        self.jobs: list[tuple[str, dict[str, Any], str]] = []

    async def enqueue(self, task_name: str, params: Any, key: str, *, dedup_ttl: int | None = None) -> str | None:
        self.jobs.append((task_name, in_workspace(params, self.app.settings.workspace), key))
        return key


async def store(
    app: App, tmp_path: Path, workspace: str, domains: list[str], *, sink: str | None = None, **options: Any
) -> None:
    """Create `workspace` and store a fleet of `domains` in it (zone files in the shared data dir)."""
    text = fleet_yaml(domains, **options)
    if sink:
        text = text.replace("domains:\n", f"  alert_sinks:\n    - {{type: webhook, url: '{sink}'}}\ndomains:\n")
    path = tmp_path / workspace / "fleet.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if workspace != "default":
        await workspaces.create(app, workspace)
    with acting_in(workspace):
        await import_inventory(app, load_inventory(path, provider_schemas()))


async def test_a_job_runs_in_its_workspace_also_when_recovered_from_outside_it(app: App, tmp_path: Path) -> None:
    await store(app, tmp_path, "acme", ["a.jobs.test"])
    await store(app, tmp_path, "beta", ["b.jobs.test"])
    parked = Recorder(app)  # the API process died after its commit, before anything ran
    submitted = {}
    for name in ("acme", "beta"):
        with acting_in(name):
            stored = await plan_and_store(app, key_name="k")
            submitted[name] = (await submit_apply(app, parked, stored.id, key_name="k")).id
    assert [params["workspace"]["name"] for _, params, _ in parked.jobs] == ["acme", "beta"]

    queue = InProcessQueue(app)
    await recover(app, queue)  # at start, in no workspace: each job goes back in its own
    await queue.join()
    zones = app.settings.data_dir / "zones"
    for name, domain in (("acme", "a.jobs.test"), ("beta", "b.jobs.test")):
        with acting_in(name):
            job = await get_job(app, submitted[name])
        assert job.status == "succeeded", job.error
        assert job.workspace == name
        assert sorted(job.result["outcomes"]) == [f"dkim.key:{domain}", f"dns.zone:{domain}"], job.result  # type: ignore[index]  # a finished job has a result
        assert "v=spf1" in (zones / f"{domain}.zone").read_text()
    with acting_in("acme"), pytest.raises(NotFoundError):
        await get_job(app, submitted["beta"])  # another workspace's job does not exist here


async def test_job_keys_are_per_workspace(app: App, tmp_path: Path) -> None:
    await store(app, tmp_path, "acme", ["a.keys.test"])
    await store(app, tmp_path, "beta", ["b.keys.test"])
    queue = Recorder(app)
    made = {}
    for name in ("acme", "beta"):
        with acting_in(name):
            stored = await plan_and_store(app, key_name="k")
            made[name] = await submit(app, queue, "apply", {"plan": stored.id}, key_name="k", job_key="same-key")
    assert made["acme"][1] and made["beta"][1]  # the same key in two workspaces: two jobs
    assert made["acme"][0].id != made["beta"][0].id
    with acting_in("beta"):
        again, created = await submit(app, queue, "apply", {"plan": "x"}, key_name="k", job_key="same-key")
    assert not created and again.id == made["beta"][0].id
    with acting_in(EVERY), pytest.raises(UserError, match="one workspace"):
        await queue.enqueue("run_checks", {"family": "dns", "items": []}, "k")  # not "every workspace"


async def test_the_scheduler_watches_every_workspace_in_turns_with_its_own_intervals(app: App, tmp_path: Path) -> None:
    big = [f"d{i}.big.test" for i in range(6)]
    await store(app, tmp_path, "big", big, dns_interval=600)
    await store(app, tmp_path, "small", ["one.small.test"], dns_interval=1800)
    schedules = await check_schedules(app)  # no workspace chosen: every one
    by_name = {s.workspace.name: s for s in schedules if s.workspace is not None}
    assert set(by_name) == {"default", "big", "small"}
    assert by_name["big"].intervals["dns"] == 600 and by_name["small"].intervals["dns"] == 1800
    assert by_name["default"].subjects == {} or not any(by_name["default"].subjects.values())

    queue = Recorder(app)
    result = await Scheduler(queue, clock=lambda: NOW, batch=1).tick(schedules)
    assert result.enqueued == 7 * 6  # six families without a mail backend
    names = [params["workspace"]["name"] for _, params, _ in queue.jobs]
    # the small workspace's first batch goes out second, not after the big one's 24
    assert names[:2] in (["big", "small"], ["small", "big"])
    for _, params, _ in queue.jobs:
        subject = params["items"][0][0]
        assert params["workspace"]["name"] == ("small" if subject.endswith(".small.test") else "big")
    dns_small = next(p for _, p, _ in queue.jobs if p["family"] == "dns" and p["workspace"]["name"] == "small")
    number = slot(NOW, 1800, offset("dns", "one.small.test", 1800))
    assert dns_small["items"] == [["one.small.test", number]]  # its own interval's slot

    with acting_in("small"):  # a scheduler told one workspace watches only that one
        assert [s.workspace.name for s in await check_schedules(app) if s.workspace] == ["small"]


async def test_checks_states_and_alerts_stay_in_their_workspace(
    app: App, pdns: PowerDns, tmp_path: Path, events: list[Event]
) -> None:
    domains = {"acme": "mon.acme.test", "beta": "mon.beta.test"}
    # no SPF record in either zone: each domain's dns check fails, once
    pdns.replace_zones({d: [(d, "MX", f"mail.{d}", 10)] for d in domains.values()})
    nameserver = f"{pdns.address}:{pdns.dns_port}"
    hooks = {name: Hook() for name in domains}
    with FakeServer(hooks["acme"]) as acme_receiver, FakeServer(hooks["beta"]) as beta_receiver:
        urls = {"acme": acme_receiver.url, "beta": beta_receiver.url}
        for name, domain in domains.items():
            await store(app, tmp_path, name, [domain], sink=f"{urls[name]}/alerts", nameserver=nameserver)

        run = entry(TASKS["run_checks"])

        async def check(name: str) -> dict[str, Any]:
            # what a worker does with a batch it dequeued: in no workspace until the run enters its own
            key = check_key("dns", domains[name], 1)
            result: dict[str, Any] = await run(
                app, job_key=key, workspace={"name": name, "id": None}, family="dns", items=[[domains[name], 1]]
            )
            return result

        # both at once in one process: one bus carries both workspaces' events
        outcomes = await asyncio.gather(check("acme"), check("beta"))
        await app.bus.drain()
    for outcome in outcomes:
        assert outcome["results"] > 0 and any(" spf: " in t for t in outcome["transitions"]), outcome
    failed = [e for e in events if e.topic == "monitoring.check.failed"]
    assert {(e.workspace, e.payload["subject"]) for e in failed} == set(domains.items())
    for name, domain in domains.items():
        # each receiver: every failed check of its own workspace's domain, once, and nothing else
        mine = sorted(e.payload["check"] for e in failed if e.workspace == name)
        assert "spf" in mine
        alerts = sorted((b["topic"], b["payload"]["subject"], b["payload"]["check"]) for b in hooks[name].bodies)
        assert alerts == [("monitoring.check.failed", domain, check) for check in mine], (name, alerts)
        with acting_in(name):
            assert {s.subject for s in await check_states(app)} == {domain}


async def test_a_batch_of_a_removed_workspace_fails_and_stores_nothing(app: App, tmp_path: Path) -> None:
    await store(app, tmp_path, "gone", ["x.gone.test"])
    info = await workspaces.show(app, "gone")
    await workspace_removal.remove(app, "gone", prune=True)
    with pytest.raises(NotFoundError, match="gone"):
        await entry(TASKS["run_checks"])(
            app, job_key="k", workspace={"name": "gone", "id": info.id}, family="dns", items=[["x.gone.test", 1]]
        )
    with acting_in(Scope("default")):
        assert list(await check_states(app)) == []


async def test_a_server_two_workspaces_declare_is_checked_and_kept_in_each(
    app: App, pdns: PowerDns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # once per server per interval, the PTR check is claimed per workspace: the other workspace's
    # run of the same interval must not leave its own state of the server's IP empty
    monkeypatch.setattr(monitoring, "_now", lambda: 7_200_000.0)
    pdns.replace_zones(server_checks.ZONES)
    head = server_checks.inventory(f"{pdns.address}:{pdns.dns_port}").split("domains:\n")[0]
    fleets = {"acme": server_checks.DOMAINS[:3], "beta": server_checks.DOMAINS[3:]}
    try:
        for name, fleet in fleets.items():
            path = tmp_path / f"{name}.yaml"
            path.write_text(head + "domains:\n" + "".join(f"  - name: {d}\n" for d in fleet), encoding="utf-8")
            await workspaces.create(app, name)
            with acting_in(name):
                await import_inventory(app, load_inventory(path, provider_schemas()))
        run = entry(TASKS["run_checks"])
        for name, fleet in fleets.items():
            items = [[d, 1] for d in fleet]
            await run(app, job_key=f"ptr:{name}", workspace={"name": name, "id": None}, family="ptr", items=items)
        for name in fleets:
            with acting_in(name):
                assert await server_checks.rows(app, server_checks.IP, "ptr") == ["ok"], name
    finally:
        pdns.drop_zones(list(server_checks.ZONES))

"""Monitoring runs: check families for the desired state's (or a file's) domains, with history.

State changes are stored and their events logged in one transaction; alert sinks consume the
events from their own queue, so a slow sink never stalls a run.

Everything here acts in one workspace (the chosen one): its desired state, its `monitoring`
settings (intervals, alert sinks), its check states. The scheduler's `check_schedules` reads
every workspace's, and each batch it enqueues runs in its own workspace (services/jobs.py entry).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from email_infrastructure.core.events import correlation
from email_infrastructure.core.inventory import Inventory, LoadedInventory
from email_infrastructure.monitoring.audit import AuditReport
from email_infrastructure.monitoring.events import CHECK_FAILED, CHECK_RECOVERED, CheckChangePayload
from email_infrastructure.monitoring.monitor import FAMILIES, FAMILY_ALIASES, Monitor, Row, RunSummary, family_name
from email_infrastructure.services.app import App, require_state
from email_infrastructure.services.audit import AuditPlan, AuditRequest, prepare, run_audit
from email_infrastructure.services.desired import desired_inventory
from email_infrastructure.services.scope import EVERY, Scope, acting_in, chosen, current
from email_infrastructure.storage.repositories import Transition

if TYPE_CHECKING:
    from email_infrastructure.services.mailbox_check import CheckOptions as MailboxCheckOptions
    from email_infrastructure.services.registration_checks import DomainCheckOptions
    from email_infrastructure.services.sequencer_accounts import Build as SequencerBuild
    from email_infrastructure.storage.models import CheckState


@dataclass
class MonitorRequest:
    """Which domains to watch: a file's, else the stored desired state's."""

    source: LoadedInventory | None = None
    nameservers: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    #: how the `mailbox` family connects (ports, CA, an address to use instead of the host's)
    mailbox_options: MailboxCheckOptions | None = None
    #: how the `registration` and `delegation` families reach RDAP and the parent servers
    domain_options: DomainCheckOptions | None = None


async def _inventory(app: App, request: MonitorRequest) -> Inventory:
    return request.source.inventory if request.source else await desired_inventory(app)


#: checks a service runs, not the audit engine (their families are run apart: `_run`)
SERVICE_CHECKS = FAMILIES["mailbox"] | FAMILIES["sequencer"] | FAMILIES["registration"] | FAMILIES["delegation"]
#: the clock of the server checks' intervals (a test moves it)
_now: Callable[[], float] = time.time


class ServerChecks:
    """Once per server per interval: the PTR and IP-blocklist checks of a family, claimed per IP.

    The scheduler sends a fleet's domains in batches; the domains of one server share its IP, so
    without this every batch asked the same PTR and blocklist questions again (12 times a cycle
    for 300 domains on one server). The first run of an interval window (`now // interval`) claims
    `server:<family>:<ip>:<window>` and checks; the others leave the IP out, its stored result
    being the one all its domains read. A run that fails releases its claims, so its retry checks.
    """

    def __init__(self, app: App, family: str, interval: int) -> None:
        self.app, self.family, self.interval = app, family, max(interval, 1)
        self.claimed: list[str] = []

    async def gate(self, ips: list[str]) -> set[str]:
        """The IPs this run checks (claimed now); the rest were checked this interval."""
        from email_infrastructure.storage.run_keys import RunKeys

        window = int(_now() // self.interval)
        async with self.app.uow() as uow:
            # per workspace: two workspaces on one server keep a state of its IP each
            keys = {f"server:{uow.workspace_id}:{self.family}:{ip}:{window}": ip for ip in ips}
            claimed = await RunKeys(uow.session).claim(list(keys))
            await uow.commit()
        self.claimed += sorted(claimed)
        return {keys[k] for k in claimed}

    async def release(self) -> None:
        """The run failed: its IPs are checked by the next run of the interval."""
        from email_infrastructure.storage.run_keys import RunKeys

        if not self.claimed:
            return
        async with self.app.uow() as uow:
            await RunKeys(uow.session).release(self.claimed)
            await uow.commit()
        self.claimed = []


class PartlyStoredError(RuntimeError):
    """Another delivery of the same batch stored some of its subjects meanwhile: the run is retried."""


async def record_results(app: App, rows: list[Row], run_keys: Sequence[str] = ()) -> list[Transition]:
    """Store results; state changes to or from error become events in the same transaction.

    With `run_keys` (one per subject of a worker's task) the results are stored once: when every
    key was claimed already (a re-delivered task) nothing is stored and nothing emitted. A batch
    whose keys were only partly claimed elsewhere (two deliveries racing) stores nothing and
    raises `PartlyStoredError`; its retry leaves out the subjects stored meanwhile.
    """
    from email_infrastructure.storage.run_keys import RunKeys

    async with app.uow() as uow:
        if run_keys:
            claimed = await RunKeys(uow.session).claim(run_keys)
            if not claimed:
                return []
            if len(claimed) != len(set(run_keys)):  # the unit of work rolls the claims back
                raise PartlyStoredError(
                    f"{len(set(run_keys)) - len(claimed)} of this run's checks were stored by another"
                )
        transitions = await uow.checks.record(rows)
        for change in transitions:
            payload = CheckChangePayload(
                subject=change.subject,
                check=change.check,
                status=change.new,
                previous=change.old,
                summary=change.summary,
            )
            if change.new == "error":
                uow.emit(CHECK_FAILED, payload, source="monitoring")
            elif change.old == "error":
                uow.emit(CHECK_RECOVERED, payload, source="monitoring")
        await uow.commit()
    return transitions


async def workspace_name(app: App) -> str | None:
    """The name of the workspace units of work act in now (the name its events carry)."""
    if not app.has_state():
        return current(app.settings.workspace).name
    async with app.uow() as uow:
        return uow.workspace


class MonitorService:
    """Monitoring of one inventory: alert sinks attached (the workspace's, for its events only), runs recorded."""

    def __init__(
        self,
        app: App,
        inventory: Inventory,
        plan: AuditPlan,
        on_run: Callable[[RunSummary], None] | None = None,
        *,
        workspace: str | None = None,
    ) -> None:
        from email_infrastructure.monitoring.alerts import AlertDispatcher
        from email_infrastructure.monitoring.sinks import build_sink

        self.app = app
        self.inventory = inventory
        self.plan = plan
        sinks = [build_sink(i, s) for i, s in enumerate(inventory.monitoring.alert_sinks)]
        self.dispatcher = AlertDispatcher(sinks, workspace=workspace)
        self._detach = self.dispatcher.attach(app.bus)
        self.monitor = Monitor(self._run, self._store, inventory.monitoring.intervals.model_dump(), on_run)
        self.mailbox_options: MailboxCheckOptions | None = None
        #: how the `sequencer` family builds a provider from its declaration (None: registry.from_spec)
        self.sequencer_builder: SequencerBuild | None = None
        self.domain_options: DomainCheckOptions | None = None
        #: a worker's run keys (one per subject): results of a re-delivered job are not stored twice
        self.run_keys: list[str] = []
        #: a scheduled run's PTR and IP blocklists: once per server per interval
        self.server_checks: ServerChecks | None = None

    @classmethod
    async def create(
        cls, app: App, request: MonitorRequest, on_run: Callable[[RunSummary], None] | None = None
    ) -> MonitorService:
        """Resolve targets (with stored DKIM keys) and sinks for a request."""
        inventory = await _inventory(app, request)
        audit_request = AuditRequest(
            domains=list(request.subjects), source=request.source, nameservers=list(request.nameservers)
        )
        plan = await prepare(app, audit_request)
        service = cls(app, inventory, plan, on_run, workspace=await workspace_name(app))
        service.mailbox_options = request.mailbox_options
        service.domain_options = request.domain_options
        return service

    async def _run(self, checks: set[str]) -> AuditReport:
        if checks == FAMILIES["mailbox"]:
            return await self._mailboxes()
        if checks == FAMILIES["sequencer"]:
            return await self._sequencers()
        if checks <= FAMILIES["registration"] | FAMILIES["delegation"]:
            return await self._domain_checks(checks)
        gate = self.server_checks.gate if self.server_checks is not None else None
        return await run_audit(self.plan, checks - SERVICE_CHECKS, ip_gate=gate)

    async def _sequencers(self) -> AuditReport:
        """Each sequencer's health of the watched domains' mailboxes: one read per sequencer, a report per address."""
        from email_infrastructure.services.sequencer_health import health_report

        # scheduled: each sequencer once per interval for the whole workspace, whichever batch comes first
        return await health_report(
            self.inventory, builder=self.sequencer_builder, app=self.app, window=self.server_checks
        )

    async def _domain_checks(self, checks: set[str]) -> AuditReport:
        """RDAP (`registration`, `expiry`) and the parent's delegation of the watched domains."""
        from email_infrastructure.services.registration_checks import (
            DomainCheckOptions,
            delegation_report,
            registration_report,
        )

        names = [t.name for t in self.plan.targets]
        options = self.domain_options or DomainCheckOptions()
        if checks <= FAMILIES["registration"]:
            return await registration_report(self.app, self.inventory, names, options)
        return await delegation_report(self.app, self.inventory, names, self.plan.nameservers, options)

    async def _mailboxes(self) -> AuditReport:
        """The login check of the stored mailboxes of the watched domains, as a report per address."""
        from email_infrastructure.monitoring.audit import SubjectReport
        from email_infrastructure.monitoring.findings import CheckResult
        from email_infrastructure.services.mailbox_check import LoginStatus, check_mailboxes

        watched = {d.name for d in self.inventory.domains}
        if not self.app.has_state() or not watched:
            return AuditReport([], [])
        stored = {
            d.name for d in (await desired_inventory(self.app)).resolved_domains() if d.server and d.server.mail_backend
        }
        if not watched & stored:
            return AuditReport([], [])
        checked = await check_mailboxes(self.app, only=sorted(watched & stored), options=self.mailbox_options)
        reports = []
        for box in checked.mailboxes:
            result = CheckResult("mailbox")
            for login in box.logins:
                where = f"{login.protocol} {box.host}:{login.port}"
                if login.status is LoginStatus.FAIL:
                    result.error("mailbox.login_failed", f"{box.address}: {where} refused the login: {login.answer}")
                elif login.status is LoginStatus.UNKNOWN:
                    result.cannot_tell("mailbox.unreachable", f"{box.address}: {where}: {login.answer}")
            reports.append(SubjectReport(box.address, {"mailbox": result}))
        return AuditReport(reports, [])

    async def _store(self, rows: list[Row]) -> list[Transition]:
        return await record_results(self.app, rows, self.run_keys)

    async def run_once(self, families: Sequence[str] | None = None) -> list[RunSummary]:
        """Every family (or the given ones, aliases allowed) once."""
        named = [family_name(f) for f in families or []]
        with correlation() as run_id:
            if self.dispatcher.runs is not None:
                self.dispatcher.runs.add(run_id)
            summaries = await self.monitor.run_once(named or None)
        await self.app.bus.drain()
        return summaries

    async def run_forever(self, stop: asyncio.Event, *, metrics_port: int | None = None) -> None:
        """Each family at its interval until `stop`; serves Prometheus metrics when asked."""
        from prometheus_client import CollectorRegistry, start_http_server

        from email_infrastructure.monitoring.metrics import StateCollector

        collector = StateCollector(await self._states())
        if metrics_port:
            registry = CollectorRegistry()
            registry.register(collector)
            start_http_server(metrics_port, addr="127.0.0.1", registry=registry)

        async def refresh() -> None:
            while not stop.is_set():
                collector.update(await self._states())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 15)

        await asyncio.gather(self.monitor.run_forever(stop), refresh())

    async def _states(self) -> Sequence[CheckState]:
        # monitoring -f on a fresh data dir: no state until the first run stores its results
        return await check_states(self.app) if self.app.has_state() else []

    async def close(self) -> None:
        """Deliver what is queued, then close the sinks."""
        await self.app.bus.drain()
        self._detach()
        await self.dispatcher.close()


async def run_checks(app: App, subject: str, family: str, *, stored_only: bool = False) -> RunSummary | None:
    """One family of checks for one domain of the desired state, recorded (the API's and dashboard's re-check).

    With `stored_only` a domain no longer in the desired state is not checked: None.
    """
    batch = await run_batch(app, family, {subject: None}, stored_only=stored_only)
    return batch.summary


@dataclass
class BatchRun:
    """What one run of a family over some domains did."""

    #: None when nothing was left to check
    summary: RunSummary | None
    #: domains no longer in the desired state (removed since their checks were enqueued)
    gone: list[str] = field(default_factory=list)
    #: domains whose run (by its key) had stored its results before: a re-delivery
    stored_before: list[str] = field(default_factory=list)


async def run_batch(
    app: App, family: str, subjects: Mapping[str, str | None], *, stored_only: bool = False
) -> BatchRun:
    """One family of checks for some domains of the desired state, recorded (a worker's task body).

    `subjects` maps each domain to its run key (or None): a domain whose key was stored already
    is left out, and the others' results are stored with their keys in one transaction, so a
    batch delivered twice stores each domain's run once. Only these domains are read from the
    desired state, so a batch costs the same among 100,000 domains as among ten.
    """
    from pathlib import Path

    from email_infrastructure.services.desired import Snapshot, from_rows
    from email_infrastructure.storage.run_keys import RunKeys

    snapshot = Snapshot()
    keys = {subject: key for subject, key in subjects.items() if key is not None}
    seen: set[str] = set()
    if app.has_state():
        async with app.uow() as uow:
            snapshot = from_rows(await uow.desired.load(only=sorted(subjects)))
            seen = await RunKeys(uow.session).seen(list(keys.values())) if keys else set()
    run = BatchRun(None)
    if stored_only:
        run.gone = sorted(s for s in subjects if s not in snapshot.domains)
    run.stored_before = sorted(s for s, key in keys.items() if key in seen)
    left = [s for s in sorted(subjects) if s not in run.gone and s not in run.stored_before]
    if not left:
        return run
    for name in set(snapshot.domains) - set(left):
        del snapshot.domains[name]
    inventory = snapshot.inventory()
    source = LoadedInventory(inventory, Path(app.state_location))
    service = await MonitorService.create(app, MonitorRequest(source=source, subjects=left))
    # a worker runs several batches at once: each alerts on its own run's changes only
    service.dispatcher.runs = set()
    service.run_keys = [keys[s] for s in left if s in keys]
    name = FAMILY_ALIASES.get(family, family)
    if keys and name in FAMILIES:  # a scheduled run: its batch is one of many over the fleet
        interval = int(inventory.monitoring.intervals.model_dump().get(name, 0))
        service.server_checks = ServerChecks(app, name, interval) if interval else None
    try:
        summaries = await service.run_once([family] if name in FAMILIES else None)
    except Exception:
        if service.server_checks is not None:
            await service.server_checks.release()
        raise
    finally:
        await service.close()
    run.summary = summaries[0]
    return run


@dataclass
class CheckSchedule:
    """What the scheduler enqueues: each family's interval and the domains it runs for, in one workspace."""

    intervals: dict[str, int]
    subjects: dict[str, list[str]]
    #: the workspace the checks run in (None: the one the enqueuer acts in)
    workspace: Scope | None = None


async def check_schedule(app: App) -> CheckSchedule:
    """The stored desired state's domains per family (mailbox only where a mail backend serves them,
    sequencer only where mailboxes go to a sequencer)."""
    if not app.has_state():
        return CheckSchedule({}, {})
    inventory = await desired_inventory(app)
    intervals = {str(k): int(v) for k, v in inventory.monitoring.intervals.model_dump().items() if k in FAMILIES}
    domains = inventory.resolved_domains()
    subjects = {family: sorted(d.name for d in domains) for family in intervals}
    if "mailbox" in subjects:
        subjects["mailbox"] = sorted(d.name for d in domains if d.server and d.server.mail_backend)
    if "sequencer" in subjects:  # a domain whose mailboxes (or one of them) go to a sequencer
        subjects["sequencer"] = sorted(
            d.name for d in domains if d.sequencers or any(m.sequencers for m in d.mailboxes)
        )
    return CheckSchedule(intervals, subjects)


async def check_schedules(app: App) -> list[CheckSchedule]:
    """Every workspace's schedule, each with its own intervals (or only the chosen workspace's, when one is)."""
    scope = chosen()
    if scope is not None and not scope.every:
        schedule = await check_schedule(app)
        schedule.workspace = scope
        return [schedule]
    if not app.has_state():
        return []
    async with app.uow(EVERY) as uow:
        workspaces = [Scope(w.name, w.id) for w in await uow.workspaces.all()]
    schedules = []
    for workspace in workspaces:
        with acting_in(workspace):
            schedule = await check_schedule(app)
        schedule.workspace = workspace
        schedules.append(schedule)
    return schedules


async def check_states(app: App) -> Sequence[CheckState]:
    """Every current check state (what alerts and metrics read)."""
    await require_state(app)
    async with app.uow() as uow:
        return await uow.checks.states()


async def metrics_text(app: App) -> bytes:
    """The current check states in the Prometheus text format."""
    from email_infrastructure.monitoring.metrics import exposition

    if not app.has_state():
        return exposition([])
    return exposition(await check_states(app))

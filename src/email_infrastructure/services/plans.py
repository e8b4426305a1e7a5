"""Plan and apply: the desired state (stored, or stored plus a file) against every provider; stored plans
(made through the API or the dashboard) applied by id as a job."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from email_infrastructure.core.errors import NotFoundError, UserError
from email_infrastructure.core.events import correlation
from email_infrastructure.core.inventory import Inventory, LoadedInventory
from email_infrastructure.core.pending import mask_pending
from email_infrastructure.dns.plan import ZonePlan
from email_infrastructure.reconcile.build import Reconciler, build
from email_infrastructure.reconcile.graph import PLAN_FORMAT_VERSION, GraphPlan, Progress, StepOutcome, StepPlan
from email_infrastructure.reconcile.purchases import PurchaseRun
from email_infrastructure.services import events
from email_infrastructure.services.app import App
from email_infrastructure.services.context import AppContext
from email_infrastructure.services.desired import ImportResult, desired_inventory, import_inventory, preview_import
from email_infrastructure.services.jobs import JobView, submit
from email_infrastructure.services.queue import JobFailed, TaskQueue
from email_infrastructure.services.scope import acting_in, current
from email_infrastructure.services.workspaces import ensure as ensure_workspace
from email_infrastructure.storage.api_repositories import StoredPlans
from email_infrastructure.storage.locks import APPLY_LOCK, database_lock, holder_description
from email_infrastructure.storage.models import StoredPlanRecord, utcnow

#: how long apply waits for another apply of the same database by default
LOCK_TIMEOUT = 30.0


class UnsafePlanError(UserError):
    """The plan deletes too much or replaces what we cannot restore; needs --force."""


@dataclass
class Plan:
    """A plan over every step, where the desired state came from, and where state lives."""

    graph: GraphPlan
    state: str
    imported: ImportResult | None = None
    #: the domains to buy, their total and whether this run may buy them (None: no registrar step)
    purchases: PurchaseRun | None = None

    @property
    def zones(self) -> list[ZonePlan]:
        """The DNS step plans, by zone."""
        return [s.detail for s in self.graph.component("dns") if isinstance(s.detail, ZonePlan)]

    @property
    def checksum(self) -> str:
        """One checksum over every step's changes."""
        return self.graph.checksum

    @property
    def has_changes(self) -> bool:
        """True when applying would change something."""
        return self.graph.has_changes

    @property
    def failed(self) -> list[StepPlan]:
        """Steps that could not be planned."""
        return self.graph.failed

    @property
    def unsafe(self) -> list[str]:
        """Why applying needs --force."""
        return self.graph.unsafe

    def summary(self) -> dict[str, int]:
        """Changes by action over every step."""
        return self.graph.summary()

    def _parts(self) -> Iterator[tuple[str, Any]]:
        """The top-level keys in order; `steps` and `zones` as iterators, made one item at a time."""
        yield "format_version", PLAN_FORMAT_VERSION
        yield "checksum", self.checksum
        yield "state", self.state
        yield "summary", self.summary()
        yield "import", None if self.imported is None else self.imported.to_json()
        yield "steps", (s.to_json() for s in self.graph.ordered)
        yield "zones", (mask_pending(z.to_json()) for z in sorted(self.zones, key=lambda z: z.zone))
        yield "unsafe", self.unsafe
        if self.purchases is not None:
            yield "purchases", self.purchases.to_json()

    def to_json(self) -> dict[str, Any]:
        """The documented plan schema (docs/plan-format.md, format 2)."""
        return {key: list(value) if isinstance(value, Iterator) else value for key, value in self._parts()}

    def iter_json(self) -> Iterator[str]:
        """`to_json()` as text, exactly as `json.dumps(..., indent=2)` writes it, a step or zone at a time.

        A plan of 10,000 domains is ~70 MB of JSON: built whole (dicts, then one string) it took
        ~900 MiB; here only one step's dict and text exist at a time.
        """
        sep = "{\n"
        for key, value in self._parts():
            yield f"{sep}  {json.dumps(key)}: "
            sep = ",\n"
            if not isinstance(value, Iterator):
                yield _indented(value, "  ")
                continue
            opened = False
            for item in value:
                yield ",\n    " if opened else "[\n    "
                opened = True
                yield _indented(item, "    ")
            yield "\n  ]" if opened else "[]"
        yield "\n}\n"


def _indented(value: Any, margin: str) -> str:
    """`value` as JSON with indent 2, its lines after the first shifted right by `margin`."""
    return json.dumps(value, indent=2, default=str).replace("\n", "\n" + margin)


@dataclass
class ApplyResult:
    """The plan that was applied and each step's outcome."""

    plan: Plan
    outcomes: list[StepOutcome] = field(default_factory=list)
    correlation_id: str = ""

    @property
    def failed(self) -> list[StepOutcome]:
        """Steps that failed or were skipped because a dependency failed."""
        return [o for o in self.outcomes if o.status in ("failed", "skipped")]

    @property
    def status(self) -> str:
        """failed, applied or unchanged."""
        if self.failed:
            return "failed"
        return "applied" if self.plan.has_changes else "unchanged"

    def to_json(self) -> dict[str, Any]:
        """The plan with every step's outcome."""
        data = self.plan.to_json()
        data["correlation_id"] = self.correlation_id
        data["outcomes"] = {o.key: o.to_json() for o in sorted(self.outcomes, key=lambda o: o.key)}
        return data


def normalise_checksum(text: str) -> str:
    """A checksum as printed, with or without its `sha256:` prefix."""
    text = text.strip()
    return text if text.startswith("sha256:") else f"sha256:{text}"


async def _desired(
    app: App, source: LoadedInventory | None, force: bool, inventory: Inventory | None = None
) -> tuple[Inventory, ImportResult | None]:
    if inventory is not None:
        return inventory, None
    if source is None:
        return await desired_inventory(app), None
    return await preview_import(app, source, force=force)


async def _plan(
    app: App,
    source: LoadedInventory | None,
    only: Iterable[str],
    force: bool,
    progress: Progress | None,
    deadline: float | None,
    prune: bool = False,
    edited: Inventory | None = None,
    kinds: Iterable[str] = (),
    buy: bool = False,
    budget: Decimal | None = None,
) -> tuple[Plan, Reconciler]:
    inventory, imported = await _desired(app, source, force, edited)
    # the inventory's nameservers, else the settings' (else the system's): reverse DNS waits on them
    nameservers = inventory.monitoring.nameservers or app.settings.nameservers
    reconciler = await build(
        AppContext(app),
        inventory,
        only=only,
        deadline=deadline,
        prune=prune,
        nameservers=nameservers,
        kinds=kinds,
        buy=buy,
        budget=budget,
    )
    try:
        graph = await reconciler.graph.plan(progress)
        await reconciler.review(graph)  # the whole purchase set is judged before any step is applied
    except BaseException:
        await reconciler.close()
        raise
    purchases = reconciler.purchases if reconciler.registrars else None
    return Plan(graph, app.state_location, imported, purchases), reconciler


async def plan(
    app: App,
    *,
    source: LoadedInventory | None = None,
    only: Iterable[str] = (),
    force: bool = False,
    progress: Progress | None = None,
    deadline: float | None = None,
    prune: bool = False,
    inventory: Inventory | None = None,
    kinds: Iterable[str] = (),
    budget: Decimal | None = None,
    buy: bool = False,
) -> Plan:
    """What apply would change; never writes (not to providers, not to the database, not keys).

    Without `source` the stored desired state is planned; with it, what importing the file and
    reconciling would do; with `inventory`, that desired state (an edit previewed in memory, with
    `only` its domain). Only with `prune` does the plan remove what the desired state no longer
    has from the mail servers (without it that is noted). `kinds` limits it to some step kinds
    (`sequencer.accounts` for `sequencer sync`). `budget` replaces the inventory's
    `register_budget` in the purchases' verdict; `buy` makes the verdict the one `apply --buy` would
    reach (balances read too). A plan never buys.
    """
    # a file naming a workspace that does not exist yet plans against an empty one (apply creates it)
    with correlation(), acting_in(replace(current(app.settings.workspace), missing_ok=source is not None)):
        result, reconciler = await _plan(
            app, source, only, force, progress, deadline, prune, inventory, kinds, buy=buy, budget=budget
        )
        await reconciler.close()
    return result


async def apply(
    app: App,
    *,
    source: LoadedInventory | None = None,
    checksum: str | None = None,
    force: bool = False,
    only: Iterable[str] = (),
    progress: Progress | None = None,
    lock_timeout: float = LOCK_TIMEOUT,
    deadline: float | None = None,
    prune: bool = False,
    kinds: Iterable[str] = (),
    buy: bool = False,
    budget: Decimal | None = None,
) -> ApplyResult:
    """Import `source` (if any), plan, check the guard rails, apply step by step; one process at a time.

    A failed step never stops the others, only the steps that depend on it. `prune` as for `plan`.
    Domains are bought only with `buy`, and only if the whole purchase set is within its caps
    (`max_price` per domain, `budget` or the inventory's `register_budget` for the run).
    """
    started = asyncio.get_running_loop().time()
    if source is not None:
        await ensure_workspace(app)
    db = await app.database()
    async with database_lock(db.engine, APPLY_LOCK, holder_description("email-infra apply"), lock_timeout):
        with correlation() as run_id:
            planned, reconciler = await _plan(
                app, source, only, force, None, deadline, prune, kinds=kinds, buy=buy, budget=budget
            )
            try:
                if checksum is not None and normalise_checksum(checksum) != planned.checksum:
                    raise UserError(
                        f"the plan changed since it was shown (expected {normalise_checksum(checksum)}, "
                        f"now {planned.checksum}); run plan again"
                    )
                if planned.unsafe and not force:
                    raise UnsafePlanError("refusing to apply: " + "; ".join(planned.unsafe))
                if source is not None:
                    await import_inventory(app, source, force=force)
                if deadline is not None:  # one deadline for the whole run: planning spent part of it
                    reconciler.graph.deadline = max(0.0, deadline - (asyncio.get_running_loop().time() - started))
                outcomes = await reconciler.graph.apply(planned.graph, progress)
            finally:
                await reconciler.close()
            result = ApplyResult(planned, outcomes, run_id)
            async with app.uow() as uow:
                await uow.plans.record(
                    "reconcile",
                    planned.checksum,
                    result.status,
                    planned.to_json(),
                    {o.key: o.to_json() for o in outcomes},
                )
                await uow.commit()
    return result


@dataclass(frozen=True)
class StoredPlan:
    """A plan kept so that it can be applied by id (the API's and the dashboard's plans)."""

    id: str
    checksum: str
    #: the plan as `Plan.to_json` gives it (docs/plan-format.md)
    plan: dict[str, Any]
    #: the API key that made it
    key_name: str
    created_at: datetime

    @property
    def summary(self) -> dict[str, int]:
        """Changes by action."""
        return {str(k): int(v) for k, v in (self.plan.get("summary") or {}).items()}

    @property
    def has_changes(self) -> bool:
        """True when applying would change something."""
        return any(s.get("changes") for s in self.plan.get("steps", []))

    @property
    def only(self) -> list[str]:
        """The domains the plan is limited to (none: every domain)."""
        return [str(d) for d in self.plan.get("only") or []]

    @property
    def force(self) -> bool:
        """True when applying it passes the deletion guard (a removal confirmed by its domain's name)."""
        return bool(self.plan.get("force"))

    @property
    def prune(self) -> bool:
        """True when applying it removes what the desired state no longer has (`--prune`)."""
        return bool(self.plan.get("prune"))

    @property
    def kinds(self) -> list[str]:
        """The step kinds the plan is limited to (none: every kind; `sequencer.accounts` for a sync)."""
        return [str(k) for k in self.plan.get("kinds") or []]


def _stored(row: StoredPlanRecord) -> StoredPlan:
    return StoredPlan(row.id, row.checksum, dict(row.plan), row.key_name, row.created_at)


async def plan_and_store(app: App, *, key_name: str) -> StoredPlan:
    """Plan the stored desired state (writes nothing at the providers) and keep the plan to apply by id."""
    return await store_plan(app, await plan(app), key_name=key_name)


async def store_plan(
    app: App,
    planned: Plan,
    *,
    key_name: str,
    only: Iterable[str] = (),
    prune: bool = False,
    force: bool = False,
    kinds: Iterable[str] = (),
) -> StoredPlan:
    """Keep a plan to apply by id; one limited to `only` domains or `kinds` of steps (with `prune`, `force`)
    is applied so, and says so (its JSON's `only`, `kinds`, `prune` and `force` keys): its checksum
    covers those steps alone."""
    data = planned.to_json()
    if only or kinds:
        data.update(only=sorted(only), prune=prune, force=force)
    if kinds:
        data.update(kinds=sorted(kinds))
    row = StoredPlanRecord(
        id=uuid.uuid4().hex, checksum=planned.checksum, plan=data, key_name=key_name, created_at=utcnow()
    )
    async with app.uow() as uow:
        StoredPlans(uow.session).add(row)
        uow.emit(
            events.PLAN_CREATED, events.PlanStoredPayload(plan=row.id, checksum=row.checksum), source=f"api:{key_name}"
        )
        await uow.commit()
    return _stored(row)


async def get_stored_plan(app: App, plan_id: str) -> StoredPlan:
    """A stored plan; NotFoundError when there is none."""
    async with app.uow() as uow:
        row = await StoredPlans(uow.session).get(plan_id)
        if row is None:
            raise NotFoundError(f"no plan {plan_id!r}")
        return _stored(row)


async def apply_stored_plan(
    app: App,
    *,
    plan: str,
    checksum: str | None = None,
    progress: Progress | None = None,
    resumed: bool = False,
    buy: bool = False,
) -> ApplyResult:
    """Apply a stored plan: re-plan, refuse if the checksum moved since it was shown, apply.

    `plan` is the stored plan's id and `checksum` the one shown (the stored plan's by default).
    A run taking over a dead worker's apply (`resumed`) finds part of the plan applied, so the
    checksum no longer matches: it re-plans what is left and converges (the guard was passed
    when the apply first started). `buy` (an admin's request) lets it buy domains within the caps.
    Failed steps raise JobFailed with the result.
    """
    stored = await get_stored_plan(app, plan)
    expected = None if resumed else (checksum or stored.checksum)
    result = await apply(
        app,
        checksum=expected,
        progress=progress,
        only=stored.only,
        prune=stored.prune,
        force=stored.force,
        kinds=stored.kinds,
        buy=buy,
    )
    if result.failed:
        keys = [o.key for o in result.failed]
        raise JobFailed(f"{len(keys)} step(s) failed: {', '.join(keys)}", result.to_json())
    return result


async def submit_apply(app: App, queue: TaskQueue, plan_id: str, *, key_name: str, buy: bool = False) -> JobView:
    """Start applying a stored plan as a job (poll it by id); the same plan submitted again is the same job.

    `buy` (the API's admin-only route) lets the apply buy the plan's domains within the caps."""
    stored = await get_stored_plan(app, plan_id)
    params: dict[str, Any] = {"plan": plan_id, "checksum": stored.checksum}
    if buy:
        params["buy"] = True
    job_key = f"apply:{plan_id}" + (":buy" if buy else "")
    job, _created = await submit(app, queue, "apply", params, key_name=key_name, job_key=job_key)
    return job

"""Reconcile as a graph of component steps: plan every step, then apply them in dependency order.

A step has a key (`dkim.key:a.test`, `dns.zone:a.test`), the keys it depends on, a `plan` that
may use its dependencies' planned outputs (a value may be known only after apply) and an `apply`
that writes, reads back and returns its outputs. Steps of different domains run concurrently; a
failed step skips its dependents only.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from email_infrastructure.core.errors import EmailInfraError

PLAN_FORMAT_VERSION = 2
Outputs = dict[str, Any]
Progress = Callable[[str], None]


class _KnownAfterApply:
    """A value that only applying an upstream step can tell (a key not generated yet)."""

    _instance: _KnownAfterApply | None = None

    def __new__(cls) -> _KnownAfterApply:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "(known after apply)"


KNOWN_AFTER_APPLY = _KnownAfterApply()


def to_json(value: Any) -> Any:
    """JSON form of planned values: `known after apply` becomes {"known_after_apply": true}."""
    if value is KNOWN_AFTER_APPLY:
        return {"known_after_apply": True}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


@dataclass
class StepChange:
    """One change a step would make: `create`, `update` or `delete` of a resource."""

    action: str
    resource: str
    old: Any = None
    new: Any = None

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form (part of the checksum)."""
        return {"action": self.action, "resource": self.resource, "old": to_json(self.old), "new": to_json(self.new)}


@dataclass
class StepPlan:
    """What one step would do, and the outputs it would give its dependents."""

    key: str
    component: str
    depends_on: list[str] = field(default_factory=list)
    changes: list[StepChange] = field(default_factory=list)
    outputs: Outputs = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    #: why applying needs --force (a large deletion, replacing a key we do not hold)
    unsafe: list[str] = field(default_factory=list)
    #: the component's own view of the plan (a ZonePlan for DNS), for renderers and apply
    detail: Any = None
    #: bookkeeping apply must do even without changes (intents of an interrupted run to settle);
    #: not a change, so not in the checksum
    housekeeping: bool = False

    @property
    def has_changes(self) -> bool:
        """True when applying would change something."""
        return bool(self.changes)

    def counts(self) -> dict[str, int]:
        """Changes by action."""
        return {a: sum(c.action == a for c in self.changes) for a in ("create", "update", "delete")}

    def to_json(self) -> dict[str, Any]:
        """JSON form (docs/plan-format.md)."""
        return {
            "key": self.key,
            "component": self.component,
            "depends_on": list(self.depends_on),
            "changes": [c.to_json() for c in self.changes],
            "outputs": to_json(self.outputs),
            "notes": list(self.notes),
            "unsafe": list(self.unsafe),
            "error": self.error,
        }


@dataclass
class StepOutcome:
    """What applying one step did."""

    key: str
    component: str
    status: str  # applied | unchanged | failed | skipped
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    outputs: Outputs = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The part of the key after the kind (`a.test` for `dns.zone:a.test`)."""
        return self.key.split(":", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {"status": self.status, "error": self.error, "counts": self.counts}


class Step(ABC):
    """One node of the graph; components contribute step kinds in `reconcile/`."""

    key: str
    component: str
    depends_on: tuple[str, ...] = ()

    @abstractmethod
    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """What would change; never writes. `upstream` holds the plans of `depends_on`."""

    @abstractmethod
    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Write, read back, return the outputs; raise EmailInfraError on failure (anything else stops the run)."""

    def new_plan(self) -> StepPlan:
        """An empty plan for this step."""
        return StepPlan(key=self.key, component=self.component, depends_on=list(self.depends_on))


@dataclass
class GraphPlan:
    """Every step's plan and one checksum over all their changes."""

    steps: list[StepPlan]

    @property
    def checksum(self) -> str:
        """sha256 of the canonical JSON of every step's changes, by step key."""
        material = [{"key": s.key, "changes": [c.to_json() for c in s.changes]} for s in self.ordered]
        blob = json.dumps(material, sort_keys=True, separators=(",", ":"), default=str)
        return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()

    @property
    def ordered(self) -> list[StepPlan]:
        """Steps sorted by key."""
        return sorted(self.steps, key=lambda s: s.key)

    @property
    def has_changes(self) -> bool:
        """True when any step would change something."""
        return any(s.has_changes for s in self.steps)

    @property
    def failed(self) -> list[StepPlan]:
        """Steps that could not be planned."""
        return [s for s in self.steps if s.error]

    @property
    def unsafe(self) -> list[str]:
        """Every reason why applying needs --force."""
        return [reason for s in self.ordered for reason in s.unsafe]

    def summary(self) -> dict[str, int]:
        """Changes by action over all steps."""
        total = {"create": 0, "update": 0, "delete": 0}
        for step in self.steps:
            for action, count in step.counts().items():
                total[action] += count
        return total

    def component(self, name: str) -> list[StepPlan]:
        """The steps of one component, by key."""
        return [s for s in self.ordered if s.component == name]


def _order(steps: list[Step]) -> list[Step]:
    """Topological order; refuses unknown dependencies and cycles (a bug in a step kind)."""
    by_key = {s.key: s for s in steps}
    if len(by_key) != len(steps):
        raise ValueError("two steps share a key")
    done: set[str] = set()
    visiting: set[str] = set()
    order: list[Step] = []

    def visit(step: Step) -> None:
        if step.key in done:
            return
        if step.key in visiting:
            raise ValueError(f"the reconcile graph has a cycle through {step.key}")
        visiting.add(step.key)
        for dep in step.depends_on:
            if dep not in by_key:
                raise ValueError(f"{step.key} depends on {dep}, which is not in the graph")
            visit(by_key[dep])
        visiting.discard(step.key)
        done.add(step.key)
        order.append(step)

    for step in steps:
        visit(step)
    return order


class Graph:
    """Runs steps: each waits for its dependencies; at most `concurrency` step bodies at once.

    With a `deadline` (seconds for the whole run), a step still running when it passes is stopped
    and reported as failed; what finished keeps its result.
    """

    def __init__(
        self,
        steps: list[Step],
        *,
        concurrency: int = 8,
        deadline: float | None = None,
        run_deadline: float | None = None,
    ) -> None:
        self.steps = _order(steps)
        self.concurrency = concurrency
        #: seconds left for this graph; `run_deadline` is the whole run's, as the user gave it
        self.deadline = deadline
        self.run_deadline = run_deadline if run_deadline is not None else deadline

    async def _run(
        self,
        body: Callable[[Step, dict[str, Any]], Any],
        late: Callable[[Step], Any],
        progress: Progress | None,
    ) -> dict[str, Any]:
        semaphore = asyncio.Semaphore(self.concurrency)
        tasks: dict[str, asyncio.Task[Any]] = {}
        loop = asyncio.get_running_loop()
        until = None if self.deadline is None else loop.time() + self.deadline

        async def one(step: Step) -> Any:
            upstream = {dep: await tasks[dep] for dep in step.depends_on}
            async with semaphore:
                deadline = asyncio.timeout_at(until)
                try:
                    async with deadline:
                        result = await body(step, upstream)
                except TimeoutError:
                    if not deadline.expired():
                        raise  # the step's own, not the run's deadline: a bug in the step, like any other
                    result = late(step)
            if progress:
                progress(step.key)
            return result

        for step in self.steps:  # dependencies first, so their tasks exist
            tasks[step.key] = asyncio.ensure_future(one(step))
        try:
            await asyncio.gather(*tasks.values())
        except BaseException:
            # An interrupt (or a bug) in one step: stop the others instead of leaving them running.
            for task in tasks.values():
                task.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        return {key: task.result() for key, task in tasks.items()}

    def _late(self) -> str:
        return f"stopped: the run's deadline of {self.run_deadline:g} s passed"

    async def plan(self, progress: Progress | None = None) -> GraphPlan:
        """Plan every step; a step whose dependency cannot be planned cannot be planned either."""

        async def body(step: Step, upstream: dict[str, StepPlan]) -> StepPlan:
            broken = [k for k, p in upstream.items() if p.error]
            if broken:
                plan = step.new_plan()
                plan.error = f"{step.key}: not planned, {', '.join(broken)} cannot be planned"
                return plan
            try:
                return await step.plan(upstream)
            except EmailInfraError as exc:
                plan = step.new_plan()
                plan.error = str(exc)
                return plan

        def late(step: Step) -> StepPlan:
            plan = step.new_plan()
            plan.error = f"{step.key}: {self._late()}"
            return plan

        plans = await self._run(body, late, progress)
        return GraphPlan([plans[s.key] for s in self.steps])

    async def apply(self, plan: GraphPlan, progress: Progress | None = None) -> list[StepOutcome]:
        """Apply every step of `plan` in dependency order; a failure skips its dependents only."""
        plans = {p.key: p for p in plan.steps}

        async def body(step: Step, upstream: dict[str, StepOutcome]) -> StepOutcome:
            mine = plans[step.key]
            outcome = StepOutcome(step.key, step.component, "unchanged", mine.counts())
            # why not: a dependency that failed, or one that was skipped itself (said so, not "failed")
            failed = [
                f"{k} failed" if o.status == "failed" else f"{k} was skipped"
                for k, o in upstream.items()
                if o.status in ("failed", "skipped")
            ]
            if mine.error:
                outcome.status, outcome.error = "failed", mine.error
            elif failed:
                outcome.status, outcome.error = "skipped", f"{step.key}: skipped, {', '.join(failed)}"
            elif not mine.has_changes and not mine.housekeeping:
                outcome.outputs = dict(mine.outputs)
            else:
                try:
                    outcome.outputs = await step.apply(mine, {k: o.outputs for k, o in upstream.items()})
                    outcome.status = "applied" if mine.has_changes else "unchanged"
                except EmailInfraError as exc:
                    outcome.status, outcome.error = "failed", str(exc)
            return outcome

        def late(step: Step) -> StepOutcome:
            return StepOutcome(
                step.key, step.component, "failed", plans[step.key].counts(), f"{step.key}: {self._late()}"
            )

        outcomes = await self._run(body, late, progress)
        return [outcomes[s.key] for s in self.steps]

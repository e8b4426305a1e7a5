"""The step graph on its own: in-memory steps, no database, no provider."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest

from email_infrastructure.core.errors import EmailInfraError
from email_infrastructure.reconcile.graph import (
    KNOWN_AFTER_APPLY,
    Graph,
    GraphPlan,
    Outputs,
    Step,
    StepChange,
    StepOutcome,
    StepPlan,
)

Hook = Callable[["Fake"], Awaitable[None]]
#: a bound on waits that should end at once, so a broken graph fails the test instead of hanging it
BOUND = 10.0


class Fake(Step):
    """A step that records what the graph asked of it, in order, into a shared log."""

    component = "test"

    def __init__(
        self,
        key: str,
        *depends_on: str,
        log: list[tuple[str, str]] | None = None,
        value: Any = "v",
        outputs: Outputs | None = None,
        applied: Outputs | None = None,
        plan_error: str = "",
        apply_error: str = "",
        on_plan: Hook | None = None,
        on_apply: Hook | None = None,
    ) -> None:
        self.key, self.depends_on = key, depends_on
        self.log = log if log is not None else []
        self.value, self.outputs, self.applied = value, outputs or {}, applied
        self.plan_error, self.apply_error = plan_error, apply_error
        self.on_plan, self.on_apply = on_plan, on_apply
        #: what the graph passed as upstream, per phase
        self.seen: dict[str, Mapping[str, Any]] = {}

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """Log start and end; yield to the loop in between so that a graph that does not wait shows."""
        self.log.append(("plan-start", self.key))
        self.seen["plan"] = dict(upstream)
        await asyncio.sleep(0)
        if self.on_plan:
            await self.on_plan(self)
        if self.plan_error:
            raise EmailInfraError(self.plan_error)
        plan = self.new_plan()
        if self.value is not None:
            plan.changes.append(StepChange("create", f"thing {self.key}", None, self.value))
        plan.outputs = dict(self.outputs)
        self.log.append(("plan-end", self.key))
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Log start and end; return `applied` (else the planned outputs)."""
        self.log.append(("apply-start", self.key))
        self.seen["apply"] = dict(upstream)
        await asyncio.sleep(0)
        if self.on_apply:
            await self.on_apply(self)
        if self.apply_error:
            raise EmailInfraError(self.apply_error)
        self.log.append(("apply-end", self.key))
        return dict(self.applied if self.applied is not None else plan.outputs)


def _assert_after_dependencies(steps: list[Fake], log: list[tuple[str, str]], phase: str) -> None:
    for step in steps:
        start = log.index((f"{phase}-start", step.key))
        for dep in step.depends_on:
            assert log.index((f"{phase}-end", dep)) < start, (step.key, dep, log)


async def _by_key(graph: Graph, plan: GraphPlan | None = None) -> dict[str, StepOutcome]:
    outcomes = await graph.apply(plan if plan is not None else await graph.plan())
    return {o.key: o for o in outcomes}


# --- order -------------------------------------------------------------------------------------


def _diamond(log: list[tuple[str, str]]) -> list[Fake]:
    """a → b, a → c, (b, c) → d, and an independent e; given in reverse order."""
    return [
        Fake("d", "b", "c", log=log),
        Fake("c", "a", log=log),
        Fake("b", "a", log=log),
        Fake("e", log=log),
        Fake("a", log=log),
    ]


def test_steps_are_kept_in_a_topological_order_whatever_order_they_come_in() -> None:
    keys = [s.key for s in Graph(_diamond([])).steps]
    assert sorted(keys) == ["a", "b", "c", "d", "e"]
    position = {k: i for i, k in enumerate(keys)}
    assert position["a"] < position["b"] < position["d"]
    assert position["a"] < position["c"] < position["d"]


async def test_a_step_plans_and_applies_only_after_its_dependencies() -> None:
    log: list[tuple[str, str]] = []
    steps = _diamond(log)
    graph = Graph(list(steps))
    plan = await graph.plan()
    _assert_after_dependencies(steps, log, "plan")
    assert [s.key for s in plan.steps] == [s.key for s in graph.steps]
    outcomes = await _by_key(graph, plan)
    _assert_after_dependencies(steps, log, "apply")
    assert {k: o.status for k, o in outcomes.items()} == dict.fromkeys("abcde", "applied")
    # each step is planned and applied exactly once, even a diamond's bottom
    assert sorted(log) == sorted((f"{p}-{e}", k) for p in ("plan", "apply") for e in ("start", "end") for k in "abcde")
    d = next(s for s in steps if s.key == "d")
    assert set(d.seen["plan"]) == set(d.seen["apply"]) == {"b", "c"}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ([Fake("a"), Fake("a")], "two steps share a key"),
        ([Fake("a", "ghost")], "a depends on ghost, which is not in the graph"),
        ([Fake("a", "b"), Fake("b", "c"), Fake("c", "a")], "the reconcile graph has a cycle through a"),
        ([Fake("a", "a")], "the reconcile graph has a cycle through a"),
    ],
    ids=["duplicate", "unknown", "cycle", "self"],
)
def test_a_graph_that_cannot_be_ordered_is_refused_at_once(steps: list[Step], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Graph(steps)


# --- failures ----------------------------------------------------------------------------------


def _two_domains(log: list[tuple[str, str]], **broken: Any) -> list[Fake]:
    """x.root → (x.broken → x.dep → x.dep2, x.sibling); y.a → y.b, an unrelated domain."""
    return [
        Fake("x.root", log=log),
        Fake("x.broken", "x.root", log=log, **broken),
        Fake("x.sibling", "x.root", log=log),
        Fake("x.dep", "x.broken", log=log),
        Fake("x.dep2", "x.dep", log=log),
        Fake("y.a", log=log),
        Fake("y.b", "y.a", log=log),
    ]


async def test_a_failed_apply_skips_its_dependents_only_and_says_why() -> None:
    log: list[tuple[str, str]] = []
    outcomes = await _by_key(Graph(_two_domains(log, apply_error="x.broken: the API said no")))
    assert {k: o.status for k, o in outcomes.items()} == {
        "x.root": "applied",
        "x.broken": "failed",
        "x.sibling": "applied",
        "x.dep": "skipped",
        "x.dep2": "skipped",
        "y.a": "applied",
        "y.b": "applied",
    }
    assert outcomes["x.broken"].error == "x.broken: the API said no"
    assert outcomes["x.dep"].error == "x.dep: skipped, x.broken failed"
    assert outcomes["x.dep2"].error == "x.dep2: skipped, x.dep was skipped"
    assert outcomes["x.dep"].counts == {"create": 1, "update": 0, "delete": 0}
    assert ("apply-start", "x.dep") not in log and ("apply-start", "x.dep2") not in log


async def test_a_step_that_cannot_be_planned_takes_its_dependents_with_it_and_nothing_else() -> None:
    log: list[tuple[str, str]] = []
    graph = Graph(_two_domains(log, plan_error="x.broken: unreadable"))
    plan = await graph.plan()
    errors = {s.key: s.error for s in plan.steps}
    assert errors["x.broken"] == "x.broken: unreadable"
    assert errors["x.dep"] == "x.dep: not planned, x.broken cannot be planned"
    assert errors["x.dep2"] == "x.dep2: not planned, x.dep cannot be planned"
    assert [s.key for s in plan.failed] == ["x.broken", "x.dep", "x.dep2"]
    assert ("plan-start", "x.dep") not in log
    outcomes = await _by_key(graph, plan)
    assert {k for k, o in outcomes.items() if o.status == "failed"} == {"x.broken", "x.dep", "x.dep2"}
    assert outcomes["x.broken"].error == "x.broken: unreadable"
    assert {k for k, o in outcomes.items() if o.status == "applied"} == {"x.root", "x.sibling", "y.a", "y.b"}
    assert not [entry for entry in log if entry[0] == "apply-start" and entry[1].startswith("x.d")]


async def test_a_bug_in_a_step_stops_the_run_and_cancels_the_steps_still_running() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def wait_forever(step: Fake) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def crash(step: Fake) -> None:
        await started.wait()
        raise RuntimeError("a bug")

    graph = Graph([Fake("slow", on_plan=wait_forever), Fake("buggy", on_plan=crash), Fake("after", "slow")])
    with pytest.raises(RuntimeError, match="a bug"):
        async with asyncio.timeout(BOUND):
            await graph.plan()
    assert cancelled.is_set()


# --- known after apply -------------------------------------------------------------------------


class Consumer(Fake):
    """Plans the key its upstream `key` step outputs, as a DNS zone plans the DKIM record."""

    async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
        """The record's value is the upstream's planned public key (maybe not known yet)."""
        self.seen["plan"] = dict(upstream)
        plan = self.new_plan()
        plan.changes.append(StepChange("create", "record", None, {"key": upstream["key"].outputs["public_key"]}))
        return plan

    async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
        """Writes what the upstream step actually made."""
        self.seen["apply"] = dict(upstream)
        return {"written": upstream["key"]["public_key"]}


async def test_a_value_known_after_apply_is_planned_as_such_and_applied_as_the_real_one() -> None:
    key = Fake("key", outputs={"selector": "s1", "public_key": KNOWN_AFTER_APPLY}, applied={"public_key": "MIIB"})
    consumer = Consumer("record", "key")
    graph = Graph([consumer, key])
    plan = await graph.plan()
    planned = {s.key: s for s in plan.steps}["record"]
    assert planned.changes[0].new == {"key": KNOWN_AFTER_APPLY}
    assert planned.to_json()["changes"][0]["new"] == {"key": {"known_after_apply": True}}
    assert {s.key: s for s in plan.steps}["key"].to_json()["outputs"] == {
        "selector": "s1",
        "public_key": {"known_after_apply": True},
    }
    outcomes = await _by_key(graph, plan)
    assert consumer.seen["apply"] == {"key": {"public_key": "MIIB"}}
    assert outcomes["record"].outputs == {"written": "MIIB"}
    assert outcomes["key"].outputs == {"public_key": "MIIB"}


async def test_a_step_without_changes_is_not_applied_and_hands_on_its_planned_outputs() -> None:
    log: list[tuple[str, str]] = []
    key = Fake("key", log=log, value=None, outputs={"public_key": "MIIB"})
    consumer = Consumer("record", "key")
    outcomes = await _by_key(Graph([key, consumer]))
    assert ("apply-start", "key") not in log
    assert outcomes["key"].status == "unchanged"
    assert outcomes["key"].outputs == {"public_key": "MIIB"}
    assert consumer.seen["apply"] == {"key": {"public_key": "MIIB"}}


async def test_housekeeping_without_changes_is_applied_but_reported_unchanged() -> None:
    class Settles(Fake):
        async def plan(self, upstream: Mapping[str, StepPlan]) -> StepPlan:
            plan = self.new_plan()
            plan.housekeeping = True
            return plan

    log: list[tuple[str, str]] = []
    outcomes = await _by_key(Graph([Settles("k", log=log, applied={"done": True})]))
    assert ("apply-end", "k") in log
    assert (outcomes["k"].status, outcomes["k"].outputs) == ("unchanged", {"done": True})


def test_known_after_apply_is_one_value_even_through_a_copy() -> None:
    assert type(KNOWN_AFTER_APPLY)() is KNOWN_AFTER_APPLY
    assert copy.deepcopy({"k": KNOWN_AFTER_APPLY})["k"] is KNOWN_AFTER_APPLY
    assert repr(KNOWN_AFTER_APPLY) == "(known after apply)"


# --- checksum ----------------------------------------------------------------------------------


def _plan(*steps: tuple[str, list[StepChange]], **extra: Any) -> GraphPlan:
    out = []
    for key, changes in steps:
        out.append(StepPlan(key=key, component="test", changes=changes, **extra))
    return GraphPlan(out)


def test_the_checksum_is_the_same_for_the_same_changes_in_any_order() -> None:
    one = _plan(
        ("a", [StepChange("create", "r1", None, {"ttl": 300, "values": ["x"]})]),
        ("b", [StepChange("delete", "r2", {"ttl": 60}, None)]),
    )
    again = _plan(
        ("b", [StepChange("delete", "r2", {"ttl": 60}, None)]),
        ("a", [StepChange("create", "r1", None, {"values": ["x"], "ttl": 300})]),
    )
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", one.checksum)
    assert one.checksum == again.checksum


def test_any_changed_value_changes_the_checksum() -> None:
    base = _plan(("a", [StepChange("create", "r1", None, {"ttl": 300})]))
    variants = [
        _plan(("a", [StepChange("create", "r1", None, {"ttl": 301})])),
        _plan(("a", [StepChange("update", "r1", None, {"ttl": 300})])),
        _plan(("a", [StepChange("create", "r9", None, {"ttl": 300})])),
        _plan(("a", [StepChange("create", "r1", {"ttl": 1}, {"ttl": 300})])),
        _plan(("b", [StepChange("create", "r1", None, {"ttl": 300})])),
        _plan(("a", [StepChange("create", "r1", None, {"ttl": 300})]), ("b", [StepChange("create", "r", None, 1)])),
        _plan(("a", [StepChange("create", "r1", None, {"ttl": KNOWN_AFTER_APPLY})])),
    ]
    checksums = {base.checksum, *(v.checksum for v in variants)}
    assert len(checksums) == 1 + len(variants)


def test_the_checksum_covers_changes_only() -> None:
    changes = [StepChange("create", "r1", None, {"key": KNOWN_AFTER_APPLY})]
    base = _plan(("a", list(changes)))
    # notes, outputs, why it is unsafe, an error and the bookkeeping of interrupted runs are not changes
    same = [
        _plan(("a", list(changes)), notes=["a note"]),
        _plan(("a", list(changes)), outputs={"public_key": KNOWN_AFTER_APPLY}),
        _plan(("a", list(changes)), unsafe=["large deletion"]),
        _plan(("a", list(changes)), housekeeping=True, detail={"intent": True}),
        _plan(("a", list(changes)), depends_on=["z"]),
    ]
    assert {p.checksum for p in same} == {base.checksum}
    # the steps are part of it, by key: one more step, even without changes, is another plan
    assert _plan(("a", list(changes)), ("quiet", [])).checksum != base.checksum
    # a value known after apply is stable from one plan to the next
    assert _plan(("a", [StepChange("create", "r1", None, {"key": KNOWN_AFTER_APPLY})])).checksum == base.checksum


async def test_planning_the_same_steps_twice_gives_the_same_checksum() -> None:
    first = await Graph(_diamond([])).plan()
    second = await Graph(list(reversed(_diamond([])))).plan()
    assert first.checksum == second.checksum


def test_the_plan_sums_up_its_steps() -> None:
    plan = GraphPlan(
        [
            StepPlan("b", "dns", changes=[StepChange("delete", "r"), StepChange("create", "s")], unsafe=["big"]),
            StepPlan("a", "mail", changes=[StepChange("create", "m")], unsafe=["also"]),
            StepPlan("c", "dns", error="c: broken"),
        ]
    )
    assert plan.has_changes and not GraphPlan([StepPlan("a", "dns")]).has_changes
    assert plan.summary() == {"create": 2, "update": 0, "delete": 1}
    assert [s.key for s in plan.component("dns")] == ["b", "c"]
    assert plan.unsafe == ["also", "big"]
    assert [s.key for s in plan.failed] == ["c"]
    assert StepOutcome("dns.zone:a.test", "dns", "applied").subject == "a.test"


# --- concurrency -------------------------------------------------------------------------------


class Gate:
    """Counts the step bodies running at once; holds them until opened."""

    def __init__(self, full_at: int) -> None:
        self.running = self.most = 0
        self.started: list[str] = []
        self.full_at, self.full, self.open = full_at, asyncio.Event(), asyncio.Event()

    async def __call__(self, step: Fake) -> None:
        self.started.append(step.key)
        self.running += 1
        self.most = max(self.most, self.running)
        if self.running >= self.full_at:
            self.full.set()
        try:
            await self.open.wait()
        finally:
            self.running -= 1


@pytest.mark.parametrize("phase", ["plan", "apply"])
@pytest.mark.parametrize("concurrency", [None, 3])
async def test_independent_steps_run_at_once_up_to_the_bound(phase: str, concurrency: int | None) -> None:
    bound = concurrency or 8  # the documented default
    gate = Gate(bound)
    hook = {f"on_{phase}": gate}
    steps: list[Step] = [Fake(f"d{n}.test", **hook) for n in range(bound + 4)]
    graph = Graph(steps) if concurrency is None else Graph(steps, concurrency=concurrency)
    assert graph.concurrency == bound
    plan = await graph.plan() if phase == "apply" else None
    running = asyncio.ensure_future(graph.apply(plan) if plan is not None else graph.plan())
    async with asyncio.timeout(BOUND):
        await gate.full.wait()
    # every step was ready at once; only `bound` of them got in
    assert len(gate.started) == bound
    gate.open.set()
    async with asyncio.timeout(BOUND):
        await running
    assert gate.most == bound
    assert len(gate.started) == bound + 4


async def test_steps_of_different_domains_run_concurrently_and_a_domain_s_chain_in_order() -> None:
    # each domain's first step waits until the other domain's has started: run one after the other,
    # they would never finish (the bound turns that into a failure)
    here = {"x": asyncio.Event(), "y": asyncio.Event()}

    async def meet(step: Fake) -> None:
        mine, other = ("x", "y") if step.key.startswith("x") else ("y", "x")
        here[mine].set()
        await here[other].wait()

    log: list[tuple[str, str]] = []
    steps = [
        Fake("x.key", log=log, on_apply=meet),
        Fake("x.zone", "x.key", log=log),
        Fake("y.key", log=log, on_apply=meet),
        Fake("y.zone", "y.key", log=log),
    ]
    async with asyncio.timeout(BOUND):
        outcomes = await _by_key(Graph(list(steps)))
    assert {o.status for o in outcomes.values()} == {"applied"}
    _assert_after_dependencies(steps, log, "apply")


# --- deadline ----------------------------------------------------------------------------------


def _stuck(cancelled: list[str]) -> Hook:
    async def hook(step: Fake) -> None:
        try:
            await asyncio.Event().wait()  # never set: only the deadline ends it
        except asyncio.CancelledError:
            cancelled.append(step.key)
            raise

    return hook


async def test_the_deadline_stops_a_step_still_planning_and_keeps_what_finished() -> None:
    cancelled: list[str] = []
    graph = Graph(
        [Fake("quick"), Fake("stuck", on_plan=_stuck(cancelled)), Fake("after", "stuck"), Fake("next", "quick")],
        deadline=0.05,
    )
    async with asyncio.timeout(BOUND):
        plan = await graph.plan()
    by_key = {s.key: s for s in plan.steps}
    assert by_key["stuck"].error == "stuck: stopped: the run's deadline of 0.05 s passed"
    assert by_key["after"].error == "after: not planned, stuck cannot be planned"
    assert by_key["quick"].error is None and by_key["quick"].has_changes
    assert cancelled == ["stuck"]


async def test_the_deadline_stops_a_step_still_applying_and_skips_its_dependents() -> None:
    cancelled: list[str] = []
    steps = [Fake("stuck", on_apply=_stuck(cancelled)), Fake("after", "stuck"), Fake("quick")]
    plan = await Graph(list(steps)).plan()
    # the graph was given what was left of a 30 s run
    graph = Graph(list(steps), deadline=0.05, run_deadline=30)
    async with asyncio.timeout(BOUND):
        outcomes = await _by_key(graph, plan)
    assert (outcomes["stuck"].status, outcomes["stuck"].error) == (
        "failed",
        "stuck: stopped: the run's deadline of 30 s passed",
    )
    assert outcomes["stuck"].counts == {"create": 1, "update": 0, "delete": 0}
    assert (outcomes["after"].status, outcomes["after"].error) == ("skipped", "after: skipped, stuck failed")
    assert outcomes["quick"].status == "applied"
    assert cancelled == ["stuck"]


@pytest.mark.parametrize("deadline", [None, 60.0])
async def test_a_step_s_own_timeout_is_not_taken_for_the_run_s_deadline(deadline: float | None) -> None:
    async def times_out(step: Fake) -> None:
        raise TimeoutError("the step's own wait")

    graph = Graph([Fake("a", on_plan=times_out)], deadline=deadline)
    # a step reports its failures as EmailInfraError; anything else is a bug and ends the run
    with pytest.raises(TimeoutError, match="the step's own wait"):
        await graph.plan()


# --- progress ----------------------------------------------------------------------------------


async def test_progress_reports_every_step_once_after_its_dependencies() -> None:
    steps = [*_diamond([]), Fake("f", apply_error="f: no"), Fake("g", "f")]
    graph = Graph(list(steps))
    planned: list[str] = []
    plan = await graph.plan(progress=planned.append)
    applied: list[str] = []
    await graph.apply(plan, progress=applied.append)
    for seen in (planned, applied):
        assert sorted(seen) == sorted(s.key for s in steps)
        for step in steps:
            assert all(seen.index(dep) < seen.index(step.key) for dep in step.depends_on), seen


async def test_progress_reports_a_step_the_deadline_stopped() -> None:
    seen: list[str] = []
    graph = Graph([Fake("stuck", on_plan=_stuck([])), Fake("quick")], deadline=0.05)
    async with asyncio.timeout(BOUND):
        await graph.plan(progress=seen.append)
    assert sorted(seen) == ["quick", "stuck"]


async def test_a_failure_is_an_email_infra_error_the_graph_reports_not_raises() -> None:
    class Refuses(Fake):
        async def apply(self, plan: StepPlan, upstream: Mapping[str, Outputs]) -> Outputs:
            raise EmailInfraError("refused")

    outcomes = await _by_key(Graph([Refuses("a"), Fake("b")]))
    assert (outcomes["a"].status, outcomes["a"].error) == ("failed", "refused")
    assert outcomes["a"].to_json() == {"status": "failed", "error": "refused", "counts": outcomes["a"].counts}
    assert outcomes["b"].status == "applied"

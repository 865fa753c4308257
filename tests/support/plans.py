"""OptimizationPlan specs for tests, and a pure stand-in for the target that executes the state
machine's actions the way the operator does against the API server."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.openapi import pruned_fields, validate
from tap_optimizer.plan import loop, machine
from tap_optimizer.plan.model import (
    Action,
    BacktestSummary,
    Baseline,
    Decision,
    GateVerdict,
    MetricResult,
    PlanRef,
    Preflight,
    Readiness,
    Target,
)
from tap_optimizer.plan.spec import PlanSpec, parse, plan_schema, spec_errors
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import defaulted_parameters
from tap_optimizer.targets.kinds import TapPlatformKind

T0 = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
PASS = GateVerdict.of((MetricResult("error-rate", "Pass", "error-rate 0.001 <= 0.005", 0.001, 0.005, "q"),))
FAIL = GateVerdict.of((MetricResult("error-rate", "Fail", "error-rate 0.02 > 0.005", 0.02, 0.005, "q"),))
NO_DATA = GateVerdict.of((MetricResult("error-rate", "Inconclusive", "error-rate: the query returned no data",
                                       query="q", cause="NoData"),))


def three_phase_spec(**overrides: Any) -> dict[str, Any]:
    """The reference plan: DynamoDB, then compute and cache, then the database."""
    spec = {
        "targetRef": {"name": "tap-prod"},
        "approveIrreversible": True,
        "gates": {"prometheus": {"url": "http://127.0.0.1:9090"}, "interval": "10s",
                  "observationWindow": "30s", "baselineWindow": "1m",
                  "metrics": [{"name": "error-rate", "query": "q", "max": 0.005}]},
        "phases": [
            {"name": "dynamodb", "changes": [
                {"op": "remove", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole",
                 "reason": "3 queries/week", "projectedMonthlySavings": 41.2},
                {"op": "replace", "path": "/spec/parameters/tables/audit_logs/streamEnabled", "value": False}]},
            {"name": "compute", "changes": [
                {"op": "replace", "path": "/spec/parameters/compute/instanceType", "value": "m5.2xlarge",
                 "projectedMonthlySavings": 4200},
                {"op": "replace", "path": "/spec/parameters/compute/desiredCapacity", "value": 8},
                {"op": "replace", "path": "/spec/parameters/compute/minSize", "value": 6},
                {"op": "replace", "path": "/spec/parameters/compute/maxSize", "value": 15},
                {"op": "replace", "path": "/spec/parameters/cache/nodeType", "value": "cache.r6g.xlarge"}]},
            {"name": "database", "changes": [
                {"op": "replace", "path": "/spec/parameters/database/writerInstanceClass", "value": "db.r6g.xlarge"},
                {"op": "replace", "path": "/spec/parameters/database/readerCount", "value": 1},
                {"op": "replace", "path": "/spec/parameters/database/backupRetentionDays", "value": 14}]},
        ],
    }
    spec.update(overrides)
    return spec


@dataclass
class World:
    """The target TapPlatform and the gates, as the state machine sees them."""

    parameters: dict[str, Any] = field(default_factory=lambda: defaulted_parameters({}))
    generation: int = 1
    lock: str | None = None
    readiness: Readiness = field(default_factory=lambda: Readiness("Ready"))
    after_patches: list[Readiness] = field(default_factory=list)  # what each next patch's reconcile reports
    gates: GateVerdict = PASS
    baseline: Baseline = field(default_factory=lambda: Baseline({"error-rate": {"{}": 0.001}}))
    preflight: Preflight = field(default_factory=Preflight)
    backtest: BacktestSummary = field(default_factory=BacktestSummary)
    replays: int = 0  # how often the plan's gates were replayed on history
    patches: list[tuple[dict[str, Any], ...]] = field(default_factory=list)
    exists: bool = True
    untouchable: str = ""

    def target(self) -> Target:
        if not self.exists:
            return Target(False, TapPlatformKind())
        obj = {"metadata": {"name": "shop"}, "spec": {"parameters": copy.deepcopy(self.parameters)}}
        return Target(True, TapPlatformKind(), obj, self.generation, self.lock, self.readiness, self.untouchable)

    def replay(self) -> BacktestSummary:
        self.replays += 1
        return self.backtest

    def execute(self, action: Action, holder: str) -> None:
        """What the API server does with the action: every write but the lock tests that `holder`
        holds the lock, and the lock that nobody changed the target since it was read (here: that
        nobody holds it); a failed `test` refuses the whole patch."""
        if not self.exists:
            raise PatchRefusedError("the target is gone")
        if action.kind == "lock":
            if self.lock is not None:
                raise PatchRefusedError("locked")
            self.lock = holder
            return
        if self.lock != holder:
            raise PatchRefusedError(f"locked by {self.lock}")
        if action.kind == "unlock":
            self.lock = None
        else:
            self.parameters = defaulted_parameters(apply_patch(self.parameters, action.ops))  # as the API server
            self.generation += 1
            self.patches.append(action.ops)
            if self.after_patches:
                self.readiness = self.after_patches.pop(0)


class PatchRefusedError(Exception):
    """The API server's 422 for a failed JSON-patch test."""


def apply_patch(parameters: dict[str, Any], ops: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    out = parameters
    for op in ops:
        if op["op"] == "test":
            if pointer.get(out, op["path"]) != op["value"]:
                raise PatchRefusedError(op["path"])
        else:
            out = pointer.put(out, op["path"], op.get("value", pointer.ABSENT))
    return out


def complete(step: Coroutine[Any, Any, Decision]) -> Decision:
    """Run a step of the loop to its end: the world's ports never wait, so no event loop is needed
    (and a test that already runs one can drive a plan too)."""
    try:
        step.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    step.close()
    raise AssertionError("the step loop waited on I/O the test world does not do")


class OperatorDiedError(Exception):
    """The operator process ends between the action and the status write."""


class WorldPorts:
    """The step loop's ports in the tests: the world stands for the API server and the gates."""

    def __init__(self, run: Run, crash_after_action: bool) -> None:
        self.run, self.crash, self.refused = run, crash_after_action, False

    async def observe(self, target: Any, status: Any) -> Target:
        return self.run.world.target()

    async def measure(self, wanted: set[str], spec: PlanSpec, status: Any) -> loop.Measured:
        world = self.run.world
        return loop.Measured(preflight=world.preflight if "preflight" in wanted else None,
                             baseline=world.baseline if "baseline" in wanted else None,
                             verdict=world.gates if "gates" in wanted else None,
                             backtest=world.replay() if "backtest" in wanted else None)

    async def act(self, action: Action, target: Any) -> bool:
        try:
            self.run.world.execute(action, self.run.plan.holder)
        except PatchRefusedError:
            self.refused = True  # the operator looks again at once (an event follows the refusal)
            return False
        if self.crash:
            raise OperatorDiedError
        return True

    async def record(self, old: dict[str, Any], new: dict[str, Any], events: Any) -> None:
        refused = status_refusals(new)
        assert not refused, f"the API server would refuse or prune this status: {refused}"
        self.run.status = new
        self.run.events += events


def status_refusals(status: dict[str, Any]) -> list[str]:
    """Why the API server would refuse a status write or prune part of it, against the status schema
    the CRD declares; every status a Run records is checked (empty: stored exactly as written)."""
    schema = plan_schema()["properties"]["status"]
    found = validate(schema, status, root="status") + pruned_fields(schema, status, root="status")
    return list(dict.fromkeys(map(str, found)))


@functools.lru_cache(maxsize=64)
def checked(body: str) -> tuple[tuple[str, ...], PlanSpec | None]:
    """The operator's view of a spec: every reason to refuse it, or the parsed spec (cached: specs
    repeat from step to step)."""
    spec = json.loads(body)
    errors = tuple(map(str, spec_errors(spec)))
    return errors, None if errors else parse(spec)


@dataclass
class Run:
    """Drive one plan like the operator's timer does, with a controllable clock."""

    spec_body: dict[str, Any]
    world: World
    name: str = "plan-a"
    annotations: dict[str, str] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    now: dt.datetime = T0
    events: list[Any] = field(default_factory=list)

    @property
    def plan(self) -> PlanRef:
        return PlanRef("tap", self.name, 1, self.annotations)

    def step(self, crash_after_action: bool = False) -> bool:
        """One step through the operator's own step loop (plan/loop.py); returns whether it wants to
        step again.

        crash_after_action: the operator dies after the action and before writing status.
        """
        errors, spec = checked(json.dumps(self.spec_body, sort_keys=True))
        ports = WorldPorts(self, crash_after_action)
        try:
            decision = complete(loop.step(ports, self.plan, self.spec_body, spec, errors, self.status, self.now))
        except OperatorDiedError:
            return True
        return decision.again or ports.refused

    def settle(self, limit: int = 50) -> None:
        """Step until the plan waits for time to pass."""
        for _ in range(limit):
            if not self.step():
                return
        raise AssertionError(f"no rest after {limit} steps: {self.status.get('state')}")

    def tick(self, seconds: float, timer: float = 5.0) -> None:
        """Let `seconds` pass with the operator running: its timer looks every `timer` seconds."""
        while seconds > 0:
            self.now += dt.timedelta(seconds=min(timer, seconds))
            seconds -= timer
            if self.due():
                self.settle()

    def due(self) -> bool:
        """Whether the operator's timer would step the plan now (a wait in status has run out)."""
        next_check = self.status.get("nextCheckAt")
        return next_check is not None and machine.parse_time(next_check) <= self.now

    def down(self, seconds: float) -> None:
        """Let `seconds` pass with the operator down, then start it again."""
        self.now += dt.timedelta(seconds=seconds)
        self.settle()

    def until(self, *states: str, limit: int = 100, seconds: float = 5) -> None:
        self.settle()
        for _ in range(limit):
            if self.status.get("state") in states:
                return
            self.tick(seconds)
        raise AssertionError(f"never reached {states}: {self.status.get('state')} {self.status.get('message')}")

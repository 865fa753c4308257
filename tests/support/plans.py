"""OptimizationPlan specs for tests, and a pure stand-in for the target that executes the state
machine's actions the way the operator does against the API server."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.plan import machine
from tap_optimizer.plan.model import Action, Baseline, GateVerdict, MetricResult, PlanRef, Preflight, Readiness, Target
from tap_optimizer.plan.spec import PlanSpec, parse, spec_errors
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import defaulted_parameters

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
    patches: list[tuple[dict[str, Any], ...]] = field(default_factory=list)
    exists: bool = True

    def target(self) -> Target:
        if not self.exists:
            return Target(False)
        return Target(True, copy.deepcopy(self.parameters), self.generation, self.lock, self.readiness)

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
        """One decision; executes its action; returns whether it wants to step again.

        crash_after_action: the operator dies after the action and before writing status.
        """
        errors, spec = checked(json.dumps(self.spec_body, sort_keys=True))
        wanted = machine.needs(spec, self.status, self.now)
        decision = machine.decide(
            self.plan, spec, self.status, self.world.target(), self.now, problems=errors,
            verdict=self.world.gates if "gates" in wanted else None,
            baseline=self.world.baseline if "baseline" in wanted else None,
            preflight=self.world.preflight if "preflight" in wanted else None)
        if decision.action:
            try:
                self.world.execute(decision.action, self.plan.holder)
            except PatchRefusedError:
                return True  # status not written; the next step sees the target as it is
            if crash_after_action:
                return True
        self.status = decision.status
        self.events += decision.events
        return decision.again

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

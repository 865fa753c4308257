"""The one step loop: observe, decide, act, record. The same code runs in production (handlers.py
fills the ports with the Kubernetes API and the gate providers) and in the tests (tests/support
fills them with a pure world), so what the tests drive is what the operator does.

One step: read the target (and whether the phase waiting on it is live), measure what the machine
asks for (`machine.needs`), decide, do at most one action on the target, then write the new status
and send the Events. An action the API server refuses (a failed JSON-patch `test`: the target
changed under us) ends the step without writing status: the next step sees the target as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tap_optimizer.plan import machine
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import (
    Action,
    BacktestSummary,
    Baseline,
    Decision,
    Event,
    GateVerdict,
    PlanRef,
    Preflight,
    Target,
    TargetRef,
)
from tap_optimizer.plan.spec import PlanSpec
from tap_optimizer.plan.status import PlanStatus
from tap_optimizer.targets.kinds import TAPPLATFORM


@dataclass(frozen=True)
class Measured:
    """What the ports measured for one step: each is None unless `machine.needs` asked for it."""

    preflight: Preflight | None = None
    baseline: Baseline | None = None
    verdict: GateVerdict | None = None
    backtest: BacktestSummary | None = None


class Ports(Protocol):
    """The I/O one step needs."""

    async def observe(self, target: TargetRef, status: PlanStatus) -> Target:
        """The target as it is now, who holds it, and whether the phase waiting on it is live."""
        ...

    async def measure(self, wanted: set[str], spec: PlanSpec, status: PlanStatus) -> Measured:
        """The preflight, the backtest, the baseline or a gate check, as `wanted` says."""
        ...

    async def act(self, action: Action, target: TargetRef) -> bool:
        """Do the action on the target; False when the API server refused it."""
        ...

    async def record(self, old: PlanStatus, new: PlanStatus, events: Sequence[Event]) -> None:
        """Write the new status (when it changed) and send the Events."""
        ...


def target_ref(spec_body: Any, status: PlanStatus) -> TargetRef:
    """The object the plan changes: its (immutable) spec.targetRef, by the name it locked if it
    took one; a TapPlatform where the spec says no kind."""
    found = spec_body.get("targetRef") if isinstance(spec_body, Mapping) else None
    found = found if isinstance(found, Mapping) else {}
    name = plan_status.lock_target(status) or found.get("name", "")
    return TargetRef(str(found.get("apiVersion") or TAPPLATFORM[0]), str(found.get("kind") or TAPPLATFORM[1]),
                     str(name))


async def step(ports: Ports, plan: PlanRef, spec_body: Any, spec: PlanSpec | None, problems: tuple[str, ...],
               status: PlanStatus, now: dt.datetime) -> Decision:
    """One step of the plan; `spec` is None, and `problems` names every field, when the spec cannot run."""
    where = target_ref(spec_body, status)
    target = await ports.observe(where, status)
    wanted = machine.needs(spec, status, now)
    measured = await ports.measure(wanted, spec, status) if wanted and spec is not None else Measured()
    decision = machine.decide(plan, spec, status, target, now, problems=problems, preflight=measured.preflight,
                              baseline=measured.baseline, verdict=measured.verdict, backtest=measured.backtest)
    if decision.action is not None and not await ports.act(decision.action, where):
        return Decision(status, again=False)
    await ports.record(status, decision.status, decision.events)
    return decision

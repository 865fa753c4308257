"""The operator's own Prometheus metrics, on a registry of their own.

Not the process-global registry: importing tap_optimizer elsewhere (tests, the CLI's other
commands) never exports them, and a fresh `OperatorMetrics` in a unit test starts from zero.
Only the I/O edges update them (handlers, cluster, the gates' Prometheus client); the pure core
(plan/, gates/evaluate) knows nothing of them. The names are fixed: the Helm chart's
PrometheusRule alerts on them.

With leader election only the leader knows the plans: a standby exports no per-plan gauges (it
would export zeros, and a sum over the pods would be wrong), only its own counters and
`tap_optimizer_leader` 0 (`exposed()`; the leader, or a replica acting alone, exports 1).
"""

from __future__ import annotations

import threading
import typing
from collections.abc import Mapping
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from tap_optimizer import redact
from tap_optimizer.dashboard.data import change_savings
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import TERMINAL, State

STATES: tuple[str, ...] = typing.get_args(State)
VERDICTS = ("Pass", "Fail", "Inconclusive")
SYSTEMS = ("kubernetes", "prometheus", "aws")
# Gauges computed from the plans the replica acting knows: a standby leaves them out.
PLAN_GAUGES = frozenset({"tap_optimizer_plans", "tap_optimizer_projected_monthly_savings_dollars",
                         "tap_optimizer_realized_monthly_savings_dollars", "tap_optimizer_plan_inconclusive_checks"})
PLAN_LABELS = ("plan_namespace", "plan_name")  # the alerts name the plan by these
OUTCOMES = ("sent", "failed")
System = Literal["kubernetes", "prometheus", "aws"]


def phase_transitions(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The states phases entered from one plan status to the next, one entry per phase that moved.

    Phases are matched by name; a phase that first appears in `new` enters its first state.
    """
    before = {p.get("name"): p.get("state") for p in plan_status.phases(old)}
    return [p["state"] for p in plan_status.phases(new) if p.get("state") and before.get(p.get("name")) != p["state"]]


def entered_rollback(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Whether the plan started rolling back between the two statuses."""
    return plan_status.state(new) == "RollingBack" and plan_status.state(old) != "RollingBack"


def inconclusive_checks(plan: Mapping[str, Any]) -> int:
    """The inconclusive gate checks in a row of the phase a plan under way is holding on (0: none)."""
    status = plan.get("status")
    held = plan_status.condition(status, "GatesConclusive")
    if plan_status.state(status) in TERMINAL or held is None or held.get("status") != "False":
        return 0
    return int((plan_status.current_phase(status) or {}).get("inconclusiveInARow") or 0)


def projected_savings(plan: Mapping[str, Any]) -> float:
    """The monthly savings the plan's changes project, whatever happened to them."""
    return sum(saving for _, saving in change_savings(plan))


def applied_savings(plan: Mapping[str, Any]) -> float:
    """The projected monthly savings of the plan's phases that Succeeded (and so are not rolled back);
    none while someone else's change undoes part of them (a Drift condition)."""
    drifted = plan_status.condition(plan.get("status"), "Drift")
    if drifted is not None and drifted.get("status") == "True":
        return 0.0
    kept = {p.get("name") for p in plan_status.phases_in(plan.get("status"), "Succeeded")}
    return sum(saving for phase, saving in change_savings(plan) if phase in kept)


class OperatorMetrics:
    """The metrics and the plans they are computed from: the latest body the operator saw of each."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.plans: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()  # the HTTP endpoints read the plans from a thread of their own
        self._plans = Gauge("tap_optimizer_plans", "OptimizationPlans the operator knows, by status.state.",
                            ["state"], registry=self.registry)
        self._transitions = Counter("tap_optimizer_phase_transitions_total",
                                    "Phases entering a state (label to), as the operator wrote them.",
                                    ["to"], registry=self.registry)
        self._gates = Counter("tap_optimizer_gate_evaluations_total",
                              "Gate checks the operator made, by overall verdict.", ["verdict"], registry=self.registry)
        self._rollbacks = Counter("tap_optimizer_rollbacks_total", "Rollbacks started, by plan.", PLAN_LABELS,
                                  registry=self.registry)
        self._inconclusive = Gauge("tap_optimizer_plan_inconclusive_checks",
                                   "Inconclusive gate checks in a row of the phase a plan is holding on, by plan.",
                                   PLAN_LABELS, registry=self.registry)
        self._notifications = Counter("tap_optimizer_notifications_total",
                                      "Webhook notifications, by outcome (sent: answered 2xx; failed: an error, "
                                      "a timeout or another answer).", ["outcome"], registry=self.registry)
        self._projected = Gauge("tap_optimizer_projected_monthly_savings_dollars",
                                "Sum over the known plans of their changes' projectedMonthlySavings, "
                                "whatever the plans' state.", registry=self.registry)
        self._realized = Gauge("tap_optimizer_realized_monthly_savings_dollars",
                               "Savings of applied phases, as projected: the changes' projectedMonthlySavings "
                               "of phases that Succeeded and are not rolled back (not a measured saving).",
                               registry=self.registry)
        self._duration = Histogram("tap_optimizer_reconcile_duration_seconds",
                                   "Seconds per plan step: read the plan and target, check gates, act, write status.",
                                   registry=self.registry)
        self._errors = Counter("tap_optimizer_errors_total",
                               "Failed calls to the systems the operator talks to (kubernetes, prometheus, aws).",
                               ["system"], registry=self.registry)
        self._leader = Gauge("tap_optimizer_leader", "1 on the replica that acts on the plans (the Lease "
                             "holder, or a replica alone), 0 on a standby.", registry=self.registry)
        self.leading = True
        self._leader.set(1)
        for label in VERDICTS:
            self._gates.labels(label)
        for label in SYSTEMS:
            self._errors.labels(label)
        for label in OUTCOMES:
            self._notifications.labels(label)
        self._refresh()

    def set_leading(self, leading: bool) -> None:
        """Whether this replica acts on the plans (a standby exports no per-plan gauges)."""
        self.leading = leading
        self._leader.set(1 if leading else 0)

    def exposed(self) -> Any:
        """What /metrics exports: the registry, less the per-plan gauges on a standby."""
        return _Exposed(self)

    def plan_seen(self, key: str, plan: dict[str, Any]) -> None:
        """Remember the plan's latest body, credentials masked (the dashboard shows it), and recount the plan gauges."""
        with self._lock:
            self.plans[key] = redact.document(plan)
        self._refresh()

    def plan_gone(self, key: str) -> None:
        with self._lock:
            self.plans.pop(key, None)
        self._refresh()

    def snapshot(self) -> list[dict[str, Any]]:
        """The known plans, sorted by key, safe to read from another thread."""
        with self._lock:
            return [self.plans[key] for key in sorted(self.plans)]

    def status_written(self, key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        """Count what changed between the status a step of plan `key` (namespace/name) read and the one it wrote."""
        for state in phase_transitions(old, new):
            self._transitions.labels(state).inc()
        if entered_rollback(old, new):
            self._rollbacks.labels(*key.split("/", 1)).inc()

    def notified(self, outcome: Literal["sent", "failed"]) -> None:
        self._notifications.labels(outcome).inc()

    def gate_checked(self, verdict: str) -> None:
        self._gates.labels(verdict).inc()

    def error(self, system: System) -> None:
        self._errors.labels(system).inc()

    def time_step(self) -> Any:
        """A context manager observing the block's duration as one reconcile step."""
        return self._duration.time()

    def _refresh(self) -> None:
        plans = self.snapshot()
        states = [plan_status.state(p.get("status")) or "Pending" for p in plans]
        for state in STATES:
            self._plans.labels(state).set(states.count(state))
        self._projected.set(sum(projected_savings(p) for p in plans))
        self._inconclusive.clear()
        for plan in plans:
            if held := inconclusive_checks(plan):
                meta = plan.get("metadata") or {}
                self._inconclusive.labels(meta.get("namespace", ""), meta.get("name", "")).set(held)
        self._realized.set(sum(applied_savings(p) for p in plans))


class _Exposed:
    """A registry view for the exposition: `collect()` as the registry's, filtered on a standby."""

    def __init__(self, metrics: OperatorMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Any:
        leading = self._metrics.leading
        return (family for family in self._metrics.registry.collect() if leading or family.name not in PLAN_GAUGES)


METRICS = OperatorMetrics()

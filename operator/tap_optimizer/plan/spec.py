"""An OptimizationPlan's spec: checked as the API server would (the CRD, shipped here) and for
what a schema cannot say, then read into small frozen objects the state machine works with."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from tap_optimizer.openapi import FieldError, Schema, apply_defaults, join, validate
from tap_optimizer.plan.durations import seconds
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import parameters_schema

CRD_FILE = "optimizationplan.crd.yaml"
MAX_WINDOW_CHECKS = 400  # observationWindow / interval: every check of a window is kept in status
MIN_WINDOW_CHECKS = 3  # observationWindow / interval: a window is judged on several checks, never one
MAX_CHANGES_BYTES = 32 * 1024  # the phases' changes as JSON: status records each one (plan.evidence)
API_VERSION = "optimization.tap.io/v1alpha1"
KIND = "OptimizationPlan"


@functools.lru_cache(maxsize=1)
def crd() -> dict[str, Any]:
    """The OptimizationPlan CustomResourceDefinition, as shipped in the package."""
    return yaml.safe_load(resources.files("tap_optimizer.plan").joinpath(CRD_FILE).read_text())


def plan_schema() -> Schema:
    (version,) = crd()["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


@dataclass(frozen=True)
class Change:
    op: str
    path: str
    value: Any  # pointer.ABSENT for remove
    reason: str
    projected_monthly_savings: float


@dataclass(frozen=True)
class Phase:
    name: str
    requires_approval: bool
    changes: tuple[Change, ...]

    @property
    def projected_monthly_savings(self) -> float:
        return sum(c.projected_monthly_savings for c in self.changes)


@dataclass(frozen=True)
class GateMetric:
    name: str
    query: str
    max: float | None
    min: float | None
    max_increase_over_baseline: float | None
    volume_query: str | None
    min_volume: float | None


@dataclass(frozen=True)
class Gates:
    prometheus_url: str
    timeout: float
    bearer_token_secret: tuple[str, str] | None
    ca_secret: tuple[str, str] | None
    insecure_skip_verify: bool
    interval: float
    observation_window: float
    baseline_window: float
    compare_with_last_week: bool
    inconclusive_limit: int
    on_inconclusive: str
    metrics: tuple[GateMetric, ...]


@dataclass(frozen=True)
class PlanSpec:
    target: str
    dry_run: bool
    suspend: bool
    approve_irreversible: bool
    rollback_on_delete: bool
    rollback_scope: str
    apply_timeout: float
    gates: Gates
    phases: tuple[Phase, ...]


def spec_errors(spec: Any) -> list[FieldError]:
    """Every reason to refuse this spec, each naming its field; empty when it can run."""
    schema = plan_schema()["properties"]["spec"]
    defaulted = apply_defaults(schema, spec)
    errors = validate(schema, defaulted, root="spec")
    if errors:
        return errors
    return _duration_errors(defaulted) + _size_errors(defaulted) + _change_errors(defaulted)


def _duration_errors(spec: dict[str, Any]) -> list[FieldError]:
    """A window holds at least MIN_WINDOW_CHECKS checks (one instant check is no evidence of a
    window) and at most MAX_WINDOW_CHECKS (each is kept in status); no duration is zero."""
    gates = spec["gates"]
    interval, window = seconds(gates["interval"]), seconds(gates["observationWindow"])
    if interval <= 0:
        return [FieldError("spec.gates.interval", "must be longer than 0")]
    if window < interval * MIN_WINDOW_CHECKS:
        return [FieldError("spec.gates.interval", f"observationWindow must hold at least {MIN_WINDOW_CHECKS} checks: "
                                                  f"at most observationWindow / {MIN_WINDOW_CHECKS}")]
    if window > interval * MAX_WINDOW_CHECKS:
        return [FieldError("spec.gates.interval", f"observationWindow / interval is {window / interval:.0f} checks; at "
                                                  f"most {MAX_WINDOW_CHECKS} (lengthen the interval)")]
    return [FieldError(f"spec.gates.{name}", "must be longer than 0") for name in ("baselineWindow",)
            if seconds(gates[name]) <= 0]


def _size_errors(spec: dict[str, Any]) -> list[FieldError]:
    """The status records every change with its previous value: the plan's changes must fit its budget."""
    size = len(json.dumps([phase["changes"] for phase in spec["phases"]], separators=(",", ":")))
    if size <= MAX_CHANGES_BYTES:
        return []
    return [FieldError("spec.phases", f"the changes take {size} bytes as JSON; at most {MAX_CHANGES_BYTES} (split the "
                                      "plan into several plans)")]


def _change_errors(spec: dict[str, Any]) -> list[FieldError]:
    errors = []
    for p, phase in enumerate(spec["phases"]):
        for c, change in enumerate(phase["changes"]):
            where = f"spec.phases[{p}].changes[{c}]"
            errors += change_errors(change, where)
    return errors


def change_errors(change: dict[str, Any], where: str) -> list[FieldError]:
    """A change must name a declared parameter, outside any list, with a value its schema takes."""
    try:
        node, removable = _schema_at(change["path"])
    except pointer.PointerError as error:
        return [FieldError(join(where, "path"), error.message)]
    if change["op"] == "remove" and not removable:
        return [FieldError(join(where, "path"), "only entries of a map (such as one GSI) can be removed; "
                                                "replace other parameters with a new value")]
    if change["op"] == "remove":
        return []
    return validate(node, change["value"], root=join(where, "value"))


def schema_at(path: str) -> Schema:
    """The TapPlatform parameter schema a change's path names (see `change_errors`)."""
    return _schema_at(path)[0]


def _schema_at(path: str) -> tuple[Schema, bool]:
    """The parameter schema a pointer names, and whether it is a map entry (removable)."""
    node, removable, walked = parameters_schema(), False, "/spec/parameters"
    path_tokens = pointer.tokens(path)
    for token in path_tokens:
        walked += "/" + pointer.escape(token)
        if node.get("type") == "array":
            raise pointer.PointerError(path, f"{walked} goes into a list; replace the whole list instead")
        if token in (node.get("properties") or {}):
            node, removable = node["properties"][token], False
        elif isinstance(node.get("additionalProperties"), dict):
            node, removable = node["additionalProperties"], True
        else:
            allowed = ", ".join(sorted(node.get("properties") or {}))
            raise pointer.PointerError(path, f"{walked} is not a TapPlatform parameter; allowed here: {allowed}")
    whole_table = path_tokens[0] == "tables" and len(path_tokens) == 2  # holds data: never removed by a plan
    return node, removable and not whole_table


def parse(spec: dict[str, Any]) -> PlanSpec:
    """The spec as objects; call only when spec_errors(spec) is empty."""
    spec = apply_defaults(plan_schema()["properties"]["spec"], spec)
    return PlanSpec(
        target=spec["targetRef"]["name"],
        dry_run=spec["dryRun"],
        suspend=spec["suspend"],
        approve_irreversible=spec["approveIrreversible"],
        rollback_on_delete=spec["rollbackOnDelete"],
        rollback_scope=spec["rollbackScope"],
        apply_timeout=seconds(spec["applyTimeout"]),
        gates=_gates(spec["gates"]),
        phases=tuple(_phase(p) for p in spec["phases"]),
    )


def _phase(phase: dict[str, Any]) -> Phase:
    return Phase(
        name=phase["name"],
        requires_approval=phase["requiresApproval"],
        changes=tuple(
            Change(op=c["op"], path=c["path"], value=c.get("value", pointer.ABSENT) if c["op"] != "remove"
                   else pointer.ABSENT, reason=c.get("reason", ""),
                   projected_monthly_savings=float(c.get("projectedMonthlySavings", 0)))
            for c in phase["changes"]
        ),
    )


def _gates(gates: dict[str, Any]) -> Gates:
    prometheus = gates["prometheus"]
    token, ca = prometheus.get("bearerTokenSecretRef"), prometheus.get("caSecretRef")
    return Gates(
        prometheus_url=prometheus.get("url", "").rstrip("/"),  # gates/endpoints.py resolves it before a check
        timeout=seconds(prometheus.get("timeout", "10s")),
        bearer_token_secret=(token["name"], token["key"]) if token else None,
        ca_secret=(ca["name"], ca["key"]) if ca else None,
        insecure_skip_verify=prometheus.get("insecureSkipVerify", False),
        interval=seconds(gates["interval"]),
        observation_window=seconds(gates["observationWindow"]),
        baseline_window=seconds(gates["baselineWindow"]),
        compare_with_last_week=gates["compareWithLastWeek"],
        inconclusive_limit=gates["inconclusiveLimit"],
        on_inconclusive=gates["onInconclusive"],
        metrics=tuple(
            GateMetric(name=m["name"], query=m["query"], max=m.get("max"), min=m.get("min"),
                       max_increase_over_baseline=m.get("maxIncreaseOverBaseline"),
                       volume_query=m.get("volumeQuery"), min_volume=m.get("minVolume"))
            for m in gates["metrics"]
        ),
    )

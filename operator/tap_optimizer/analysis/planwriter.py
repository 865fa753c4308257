"""Recommendations into an OptimizationPlan, the YAML users review and commit.

Phases follow the reference's order (DynamoDB, compute, database) with the cache's shard change
in a phase of its own; a phase holding any one-way door requires approval, so that what cannot
be undone waits for a person even when the plan is synced by Argo CD.
"""

from __future__ import annotations

import copy
from typing import Any

from tap_optimizer.analysis import gate_presets
from tap_optimizer.analysis.document import PHASES, Recommendation
from tap_optimizer.plan import spec as plan_spec

DEFAULT_GATES: dict[str, Any] = gate_presets.gates(gate_presets.DEFAULT)


def plan_name(platform: str, date: str) -> str:
    """`rightsize-<platform>-<yyyymmdd>`, cut to a valid object name."""
    return f"rightsize-{platform}-{date.replace('-', '')}"[:63].rstrip("-")


def plan_changes(rec: Recommendation) -> list[dict[str, Any]]:
    """The recommendation's changes; its savings are carried by its first change, so that the
    plan's total equals the analysis' total."""
    out = []
    for i, change in enumerate(rec["changes"]):
        out.append({**change, "reason": rec["reason"][:1024], "evidence": rec["evidence"],
                    "projectedMonthlySavings": rec["projectedMonthlySavings"] if i == 0 else 0.0})
    return out


def phases(recommendations: list[Recommendation]) -> list[dict[str, Any]]:
    out = []
    for phase in PHASES:
        recs = [r for r in recommendations if r["phase"] == phase]
        if recs:
            out.append({"name": phase, "requiresApproval": any(r["irreversible"] for r in recs),
                        "changes": [c for r in recs for c in plan_changes(r)]})
    return out


def plan_gates(gates: dict[str, Any] | None, prometheus_url: str) -> dict[str, Any]:
    """The plan's spec.gates: `gates` (--gates) or DEFAULT_GATES, with `prometheus_url` as the plan's
    own Prometheus unless the gates name an endpoint or query CloudWatch (else the operator's endpoint)."""
    spec_gates = copy.deepcopy(gates or DEFAULT_GATES)
    if prometheus_url and "endpoint" not in spec_gates and not plan_spec.gates_on_cloudwatch(spec_gates):
        spec_gates.setdefault("prometheus", {}).setdefault("url", prometheus_url)
    return spec_gates


def optimization_plan(platform: str, namespace: str, recommendations: list[Recommendation], *, date: str,
                      prometheus_url: str, gates: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The OptimizationPlan for `platform`, or None when no rule fired."""
    found = phases(recommendations)
    if not found:
        return None
    return {
        "apiVersion": "optimization.tap.io/v1alpha1",
        "kind": "OptimizationPlan",
        "metadata": {"name": plan_name(platform, date), "namespace": namespace,
                     "labels": {"tap.io/platform": platform}},
        "spec": {"targetRef": {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform", "name": platform},
                 "gates": plan_gates(gates, prometheus_url), "phases": found},
    }

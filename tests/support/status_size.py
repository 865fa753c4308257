"""Plan statuses at the CRD's limits, made by the real state machine, to measure against the
status size budget (plan.evidence). Shared by the unit test and the benchmark."""

from __future__ import annotations

import copy
import json
from typing import Any

from tap_optimizer.plan.model import Baseline, GateVerdict, MetricResult
from tap_optimizer.plan.spec import MAX_CHANGES_BYTES, MAX_WINDOW_CHECKS
from tests.support.plans import Run, World, three_phase_spec

METRICS = 20  # the CRD's maxItems of spec.gates.metrics
PHASES = 20  # the CRD's maxItems of spec.phases
SERIES = 8000  # per metric: `by (tenant, route)` over a large fleet
LONG_LABEL = "route=\"/api/v1/" + "x" * 88 + "\""  # keys of 127 characters: kept per series (plan.evidence)


def size(status: dict[str, Any]) -> int:
    """Bytes of the status as the API server stores it (JSON)."""
    return len(json.dumps(status, separators=(",", ":")))


def _metric(index: int) -> dict[str, Any]:
    name = f"m{index:02d}-" + "n" * 56  # 63 characters, the CRD's maxLength
    query = f"sum by (tenant, route) (rate(x{index}[5m])) / " + "y" * 4000  # the CRD's maxLength is 4096
    return {"name": name, "query": query[:4096], "maxIncreaseOverBaseline": 0.2, "max": 1e9,
            "volumeQuery": "v" * 4096, "minVolume": 1}


def _key(tenant: int) -> str:
    return f'{{{LONG_LABEL},tenant="tenant-{tenant:05d}"}}'


def _verdict(metrics: list[dict[str, Any]], verdict: str) -> GateVerdict:
    """Every metric judged, each naming one of its thousands of long-labelled series."""
    return GateVerdict.of(tuple(
        MetricResult(m["name"], verdict, f"{m['name']}{_key(i)} = 0.123456789 <= baseline 0.1 +20% (0.12) and "
                                         f"<= max 1e+09" + " and more" * 40, 0.1234567891234, 0.1200000000001,
                     m["query"], "NoData" if verdict == "Inconclusive" else "", _key(i))
        for i, m in enumerate(metrics)))


def _tags(count: int, value: int, prefix: str) -> dict[str, str]:
    return {f"{prefix}-{i:02d}-" + "k" * 100: "v" * value for i in range(count)}


def worst_case_spec() -> dict[str, Any]:
    """20 metrics at the CRD's lengths; 20 phases whose recorded changes come close to the status'
    budget for them: the first replaces all 40 tags at their longest, the second some of them."""
    spec = three_phase_spec(phases=[
        {"name": "p00-tags", "changes": [{"op": "replace", "path": "/spec/parameters/tags",
                                          "value": _tags(40, 250, "new")}]},
        {"name": "p01-tags", "changes": [{"op": "replace", "path": "/spec/parameters/tags",
                                          "value": _tags(20, 40, "few")}]},
        *({"name": f"p{i:02d}-" + "n" * 58, "changes": [
            {"op": "replace", "path": "/spec/parameters/compute/targetCpuPercent", "value": 40 + i % 2 * 10,
             "reason": "r" * 300, "projectedMonthlySavings": 1e6}]} for i in range(2, PHASES))])
    spec["gates"].update(metrics=[_metric(i) for i in range(METRICS)], interval="1s",
                         observationWindow=f"{MAX_WINDOW_CHECKS}s", inconclusiveLimit=100)
    assert len(json.dumps([p["changes"] for p in spec["phases"]])) <= MAX_CHANGES_BYTES
    return spec


def worst_case_status() -> dict[str, Any]:
    """The largest status the operator writes for a plan the CRD admits: 20 metrics of 8,000 series
    with long labels, 4 KiB queries, 20 phases with the changes' budget used up, every finished
    phase with its kept checks, and the last phase observed past its whole window of checks."""
    spec = worst_case_spec()
    metrics = spec["gates"]["metrics"]
    baseline = {m["name"]: {_key(t): 0.1 + t / 1e6 for t in range(SERIES)} for m in metrics}
    world = World(baseline=Baseline(baseline))
    world.parameters["tags"] = _tags(40, 250, "old")
    run = Run(spec, world)
    run.until("Observing")
    passing, held = _verdict(metrics, "Pass"), _verdict(metrics, "Inconclusive")
    for phase in range(2):  # two phases through the machine; the other finished ones are alike
        for check in range(MAX_WINDOW_CHECKS + 60):
            world.gates = held if check % 7 == 3 and phase == 1 else passing
            run.tick(1, timer=1)
            if run.status["currentPhase"] != phase:
                break
    status = run.status
    finished, current = status["phases"][0], status["phases"][1]
    assert finished["state"] == "Succeeded" and current["state"] == "Observing", (finished["state"], current)
    for index in range(2, PHASES):  # phases 3..20 finished like the first (only one phase is observed at once)
        twin = copy.deepcopy(finished)
        twin.update(name=spec["phases"][index]["name"], changes=[
            {"path": c["path"], "before": 50, "after": c["value"]} for c in spec["phases"][index]["changes"]])
        status["phases"][index] = twin
    return status


def typical_status() -> dict[str, Any]:
    """The reference plan (three phases, two metrics) through to Succeeded with the CRD's default
    window: 48 h checked every 15 m."""
    spec = three_phase_spec()
    spec["gates"].update(interval="15m", observationWindow="48h")
    p99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
    spec["gates"]["metrics"].append({"name": "p99-latency", "query": p99, "maxIncreaseOverBaseline": 0.2})
    world = World(baseline=Baseline({"error-rate": {"{}": 0.001}, "p99-latency": {"{}": 0.05}}))
    world.gates = GateVerdict.of((
        MetricResult("error-rate", "Pass", "error-rate{} = 0.001 <= max 0.005", 0.001, 0.005, series="{}"),
        MetricResult("p99-latency", "Pass", "p99-latency{} = 0.051 <= baseline 0.05 +20% (0.06)", 0.051, 0.06,
                     series="{}")))
    run = Run(spec, world)
    run.until("Observing")
    run.until("Succeeded", limit=1000, seconds=900)
    return run.status


BUDGET = 192 * 1024  # bytes: the API server refuses objects over about 1.5 MiB; the status stays far below

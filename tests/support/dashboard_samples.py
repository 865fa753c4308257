"""A realistic dashboard input for tests and demos: an analysis document and plan objects.

The plans are made from the analysis' recommendations, and their statuses are written by the
real state machine (driven through tests/support/plans.py with a clock in 10-minute ticks), so the
dashboard is tested against what the operator actually records, not a hand-written guess.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from tap_optimizer.analysis.document import VERSION
from tap_optimizer.plan.model import TERMINAL, Baseline, GateVerdict, MetricResult, Readiness
from tap_optimizer.plan.spec import API_VERSION, KIND
from tests.support.plans import T0, Run, World

NAMESPACE = "tap"
ERROR_RATE = 'sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))'
P99 = "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"
P99_BASELINE = 0.35
P99_BOUND = round(P99_BASELINE * 1.2, 4)
TICK = dt.timedelta(minutes=10)
WAITING = Readiness("Waiting", "Synced=True, Ready=False")
DAYS = [(dt.date(2026, 11, 19) + dt.timedelta(days=n)).isoformat() for n in range(14)]


def _recommendation(rule: str, phase: str, resource: str, changes: list[dict[str, Any]], reason: str,
                    evidence: dict[str, Any], risk: str, irreversible: bool, savings: float) -> dict[str, Any]:
    return {"rule": rule, "phase": phase, "resource": resource, "region": "us-east-1", "changes": changes,
            "reason": reason, "evidence": evidence, "risk": risk, "irreversible": irreversible,
            "projectedMonthlySavings": savings}


def _replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": f"/spec/parameters/{path}", "value": value}


RECOMMENDATIONS = [
    _recommendation("unused-gsi", "dynamodb", "dynamodb table users / index ByRole",
                    [{"op": "remove", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole"}],
                    "ByRole served at most 3 queries a week over 8 weeks.", {"maxWeeklyQueries": 3, "weeks": 8},
                    "low", True, 41.2),
    _recommendation("stream-without-consumer", "dynamodb", "dynamodb table audit_logs / stream",
                    [_replace("tables/audit_logs/streamEnabled", False)],
                    "No Lambda or Kinesis consumer read the stream in 28 days.", {"getRecordsCalls": 0, "days": 28},
                    "low", True, 18.4),
    _recommendation("asg-rightsize", "compute", "auto scaling group tap-prod-api",
                    [_replace("compute/instanceType", "m5.2xlarge"), _replace("compute/desiredCapacity", 8),
                     _replace("compute/minSize", 6), _replace("compute/maxSize", 15)],
                    "CPU p95 stayed at 21 % on 15 m5.4xlarge; 8 m5.2xlarge keep p95 under 60 %.",
                    {"cpuP95Percent": 21.0, "instances": 15}, "medium", False, 4200.0),
    _recommendation("cache-rightsize", "compute", "elasticache tap-prod-sessions",
                    [_replace("cache/nodeType", "cache.r6g.xlarge")],
                    "Memory use peaked at 9.8 GiB of 105 GiB.", {"maxMemoryGiB": 9.8, "nodeMemoryGiB": 105},
                    "medium", False, 1310.4),
    _recommendation("aurora-writer-rightsize", "database", "aurora cluster tap-prod writer",
                    [_replace("database/writerInstanceClass", "db.r6g.xlarge")],
                    "Writer CPU p95 was 14 % and freeable memory never fell under 40 GiB.",
                    {"cpuP95Percent": 14.0, "minFreeableMemoryGiB": 40.2}, "high", False, 2190.0),
    _recommendation("aurora-reader-count", "database", "aurora cluster tap-prod readers",
                    [_replace("database/readerCount", 1)],
                    "Two readers averaged 120 connections together; one handles 1000.",
                    {"avgConnections": 120, "readers": 2}, "medium", False, 640.0),
    _recommendation("backup-retention", "database", "aurora cluster tap-prod backups",
                    [_replace("database/backupRetentionDays", 14)],
                    "Restores in the last year used snapshots at most 6 days old.", {"oldestRestoreDays": 6},
                    "low", True, 85.3),
]


def _series(resource: str, metric: str, unit: str, values: list[float | None]) -> dict[str, Any]:
    return {"resource": resource, "region": "us-east-1", "metric": metric, "unit": unit, "days": DAYS,
            "values": values}


def analysis() -> dict[str, Any]:
    """A full analysis document: costs, realized savings, every panel's data."""
    cpu = [21.0, 19.5, 23.1, 22.4, 18.0, 12.2, 11.9, 20.7, 22.8, None, 21.3, 19.9, 13.0, 12.5]
    return copy.deepcopy({
        "version": VERSION,
        "generatedAt": "2026-12-03T06:00:00Z",
        "platform": {"name": "tap-prod", "namespace": NAMESPACE, "regions": ["us-east-1", "eu-west-1"]},
        "window": {"start": "2026-11-05T00:00:00Z", "end": "2026-12-03T00:00:00Z", "days": 28,
                   "periodSeconds": 3600},
        "pricing": {"source": "AWS Price List API", "date": "2026-11-20", "currency": "USD"},
        "instanceFacts": {"source": "AWS documentation, transcribed by hand", "date": "2026-11-29"},
        "recommendations": RECOMMENDATIONS,
        "findings": [
            {"rule": "consolidate-tables", "resource": "dynamodb tables sessions_eu, sessions_us",
             "region": "eu-west-1", "reason": "Same key schema and under 5 WCU each: candidates for one table.",
             "evidence": {"writeCapacityUnits": 4.2}},
            {"rule": "idle-nat-gateway", "resource": "nat gateway nat-0a1b2c3d", "region": "us-east-1",
             "reason": "Did not fire: it processed 2.1 TB a day.", "evidence": {"bytesPerDay": 2.1e12}},
        ],
        "excluded": [
            {"resource": "arn:aws:dynamodb:us-east-1:123456789012:table/acme-orders", "region": "us-east-1",
             "tenantId": "acme", "reason": "TenantId tag: tenant-dedicated resources are never changed."},
            {"resource": "arn:aws:rds:eu-west-1:123456789012:cluster:globex-db", "region": "eu-west-1",
             "tenantId": "globex", "reason": "TenantId tag: tenant-dedicated resources are never changed."},
        ],
        "utilization": [
            _series("asg tap-prod-api", "CPUUtilization p95", "Percent", cpu),
            _series("aurora tap-prod writer", "CPUUtilization p95", "Percent", [v and v * 0.6 for v in cpu]),
            _series("elasticache tap-prod-sessions", "DatabaseMemoryUsagePercentage max", "Percent",
                    [9.1, 9.3, 9.0, None, None, 8.7, 8.8, 9.2, 9.3, 9.1, 9.0, 8.9, 8.6, 8.7]),
        ],
        "costs": {"start": "2026-11-05", "end": "2026-12-03", "currency": "USD", "total": 31904.75,
                  "byService": {"Amazon Elastic Compute Cloud - Compute": 14820.4,
                                "Amazon Relational Database Service": 9310.15, "Amazon ElastiCache": 4102.6,
                                "Amazon DynamoDB": 2208.9, "EC2 - Other": 1462.7}},
        "realized": [
            {"plan": f"{NAMESPACE}/rightsize", "phase": "dynamodb", "appliedAt": "2026-11-25T12:10:00Z",
             "days": 7, "costBefore": 515.4, "costAfter": 502.1, "monthlySavings": 57.0},
        ],
        "apiCalls": {"GetMetricData": 84, "DescribeTable": 12, "GetCostAndUsage": 2},
    })


def plan_spec() -> dict[str, Any]:
    """A plan with one phase per recommended phase, each change carrying its recommendation's why."""
    phases: dict[str, list[dict[str, Any]]] = {}
    for rec in RECOMMENDATIONS:
        changes = [dict(c) for c in rec["changes"]]
        changes[0].update(reason=rec["reason"], evidence=rec["evidence"],
                          projectedMonthlySavings=rec["projectedMonthlySavings"])
        phases.setdefault(rec["phase"], []).extend(changes)
    return {
        "targetRef": {"name": "tap-prod"},
        "approveIrreversible": True,
        "rollbackScope": "Plan",
        "gates": {"prometheus": {"url": "http://prometheus.monitoring:9090"}, "interval": "30m",
                  "observationWindow": "4h", "metrics": [
                      {"name": "error-rate", "query": ERROR_RATE, "max": 0.005},
                      {"name": "p99-latency", "query": P99, "maxIncreaseOverBaseline": 0.2}]},
        "phases": [{"name": name, "changes": changes} for name, changes in phases.items()],
    }


def plan_object(name: str, status: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OptimizationPlan as the API server returns it (no status before the operator's first step)."""
    plan = {"apiVersion": API_VERSION, "kind": KIND,
            "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1,
                         "creationTimestamp": "2026-11-25T11:58:00Z"},
            "spec": plan_spec()}
    if status is not None:
        plan["status"] = status
    return plan


def verdict(check: int, p99: float | None = None) -> GateVerdict:
    """A gate check: small wobbles in both metrics, or the given p99 latency."""
    error_rate = 0.0011 + 0.0003 * (check % 3)
    latency = p99 if p99 is not None else 0.34 + 0.01 * (check % 4)
    passed = "Pass" if latency <= P99_BOUND else "Fail"
    return GateVerdict.of((
        MetricResult("error-rate", "Pass", f"error-rate {error_rate:.4f} <= 0.005", error_rate, 0.005, ERROR_RATE),
        MetricResult("p99-latency", passed, f"p99-latency {latency:.3f} {'<=' if passed == 'Pass' else '>'} "
                                            f"{P99_BOUND}", latency, P99_BOUND, P99)))


def _drive(name: str, verdict_for: Callable[[str, int], GateVerdict]) -> dict[str, Any]:
    """Run the plan to its end; a patched phase becomes Ready one tick later, as Crossplane would."""
    world = World(readiness=WAITING,
                  baseline=Baseline({"error-rate": {"{}": 0.0012}, "p99-latency": {"{}": P99_BASELINE}}))
    run = Run(plan_spec(), world, name=name, now=T0)
    run.settle()
    for _ in range(500):
        if run.status.get("state") in TERMINAL:
            return plan_object(name, run.status)
        phase = run.status["phases"][run.status["currentPhase"]]
        world.gates = verdict_for(phase["name"], len(phase.get("checks", [])))
        live = {p["state"] for p in run.status["phases"]} & {"Applied", "Restoring"}
        world.readiness = Readiness("Ready") if live else WAITING
        run.tick(TICK.total_seconds(), timer=TICK.total_seconds())
    raise AssertionError(f"plan {name} never finished: {run.status.get('state')}")


def succeeded_plan() -> dict[str, Any]:
    """Every phase passed its 4-hour observation."""
    return _drive("rightsize", lambda _phase, check: verdict(check))


def rolled_back_plan() -> dict[str, Any]:
    """The compute phase's third check saw p99 latency 0.61 s over its bound: both applied phases rolled back."""
    return _drive("rightsize-retry", lambda phase, check: verdict(check, 0.61 if phase == "compute" and check == 2
                                                                  else None))

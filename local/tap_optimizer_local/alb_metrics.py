"""The reference platform's load balancer as CloudWatch sees it, for the CloudWatch gates' tests:
an ALB publishing RequestCount, HTTPCode_Target_5XX_Count and TargetResponseTime (to moto) per
target group, whose error rate and latency the test sets; and the gates the reference platform
used (error ratio at most 0.5 %, p99 at most 20 % over the baseline) as a plan's CloudWatch gates.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from typing import Any

NAMESPACE = "AWS/ApplicationELB"
LOAD_BALANCER = "app/tap-prod-alb/50dc6c495c0c9188"
TARGET_GROUPS = {"api": "targetgroup/tap-prod-api/6d0ecf831eec9f09",
                 "admin": "targetgroup/tap-prod-admin/7e1fd0942ffdf0a1"}


def stat(metric: str, statistic: str, target_group: str | None = None) -> dict[str, Any]:
    """A metricStat of the load balancer (or of one of its target groups)."""
    dimensions = {"LoadBalancer": LOAD_BALANCER}
    if target_group is not None:
        dimensions["TargetGroup"] = TARGET_GROUPS[target_group]
    return {"namespace": NAMESPACE, "metricName": metric, "dimensions": dimensions, "stat": statistic}


def error_rate_metric(min_volume: float = 10) -> dict[str, Any]:
    """The 5XX ratio as metric math, with the request count as its traffic."""
    return {"name": "error-rate", "max": 0.005, "minVolume": min_volume, "cloudwatch": {
        "queries": [{"id": "errors", "metricStat": stat("HTTPCode_Target_5XX_Count", "Sum"), "returnData": False},
                    {"id": "requests", "metricStat": stat("RequestCount", "Sum"), "returnData": False},
                    {"id": "ratio", "expression": "errors / requests", "label": "5xx-ratio"}],
        "volume": ["requests"]}}


def p99_metric() -> dict[str, Any]:
    return {"name": "p99-latency", "maxIncreaseOverBaseline": 0.2, "cloudwatch": {
        "queries": [{"id": "p99", "metricStat": stat("TargetResponseTime", "p99")}]}}


def per_target_group_metric() -> dict[str, Any]:
    """The 5XX ratio of each target group: one series each, each with its own traffic."""
    queries: list[dict[str, Any]] = []
    for group in TARGET_GROUPS:
        queries += [
            {"id": f"errors_{group}", "metricStat": stat("HTTPCode_Target_5XX_Count", "Sum", group),
             "returnData": False},
            {"id": f"requests_{group}", "metricStat": stat("RequestCount", "Sum", group), "label": group},
            {"id": f"ratio_{group}", "expression": f"errors_{group} / requests_{group}", "label": group}]
    return {"name": "target-group-error-rate", "max": 0.005, "minVolume": 10,
            "cloudwatch": {"queries": queries, "volume": [f"requests_{g}" for g in TARGET_GROUPS]}}


ENDPOINT = "cloudwatch"


def endpoint_config(region: str, name: str = ENDPOINT) -> dict[str, Any]:
    """The operator's configuration entry of a CloudWatch endpoint (Helm value gates.endpoints[])."""
    return {"name": name, "cloudwatch": {"region": region}}


def gates(endpoint: str = ENDPOINT, *, period: str = "1s", **overrides: Any) -> dict[str, Any]:
    """spec.gates of an OptimizationPlan gated on a CloudWatch endpoint, with windows short enough for tests."""
    return {"endpoint": endpoint, "cloudwatch": {"period": period}, "interval": "1s", "observationWindow": "3s",
            "baselineWindow": "5s", "inconclusiveLimit": 3, "metrics": [error_rate_metric(), p99_metric()],
            **overrides}


@dataclass
class Behaviour:
    requests: int = 200  # per period, per target group
    error_rate: float = 0.001
    latency: float = 0.05  # seconds, the typical request; 0.5 % take twice as long


@dataclass
class Alb:
    """Publishes the load balancer's metrics for one period at a time, at the times asked."""

    cloudwatch: Any  # a boto3 CloudWatch client
    behaviour: dict[str, Behaviour] = field(default_factory=lambda: {g: Behaviour() for g in TARGET_GROUPS})

    def set(self, group: str | None = None, **changes: float) -> None:
        for name in [group] if group else list(self.behaviour):
            for key, value in changes.items():
                setattr(self.behaviour[name], key, value)

    def publish(self, at: float) -> None:
        """One second of traffic at `at`: per target group and for the whole load balancer."""
        stamp = dt.datetime.fromtimestamp(at, dt.UTC)
        data = []
        totals = {"RequestCount": 0.0, "HTTPCode_Target_5XX_Count": 0.0}
        latencies: dict[float, float] = {}
        for group, b in self.behaviour.items():
            if not b.requests:
                continue
            errors, slow = b.requests * b.error_rate, max(1, b.requests // 200)
            dimensions = [{"Name": "LoadBalancer", "Value": LOAD_BALANCER},
                          {"Name": "TargetGroup", "Value": TARGET_GROUPS[group]}]
            data += [{"MetricName": "RequestCount", "Dimensions": dimensions, "Timestamp": stamp,
                      "Value": b.requests},
                     {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dimensions, "Timestamp": stamp,
                      "Value": errors}]
            totals["RequestCount"] += b.requests
            totals["HTTPCode_Target_5XX_Count"] += errors
            latencies[b.latency] = latencies.get(b.latency, 0) + b.requests - slow
            latencies[b.latency * 2] = latencies.get(b.latency * 2, 0) + slow
        if not totals["RequestCount"]:
            return
        whole = [{"Name": "LoadBalancer", "Value": LOAD_BALANCER}]
        data += [{"MetricName": name, "Dimensions": whole, "Timestamp": stamp, "Value": value}
                 for name, value in totals.items()]
        data.append({"MetricName": "TargetResponseTime", "Dimensions": whole, "Timestamp": stamp,
                     "Values": list(latencies), "Counts": list(latencies.values())})
        self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)

    def history(self, start: float, end: float, step: float = 1.0) -> None:
        """Traffic as it is now, for every `step` seconds of [start, end)."""
        at = start
        while at < end:
            self.publish(at)
            at += step


class LiveAlb(threading.Thread):
    """Publishes the load balancer's traffic every second, stamped now, until stopped."""

    def __init__(self, alb: Alb) -> None:
        super().__init__(daemon=True, name="live-alb")
        self.alb, self.stopping = alb, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            self.alb.publish(time.time())
            self.stopping.wait(1.0 - time.time() % 1.0)

    def __enter__(self) -> LiveAlb:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.join(5)

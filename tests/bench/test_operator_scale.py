"""Benchmark: one operator process reconciling 500 plans, each on its own TapPlatform.

Prints the operator's memory, the latency from a plan's creation to its first patch of the
target, and the API calls made. Figures, not assertions on time.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from tap_optimizer_local import slo
from tap_optimizer_local.cluster import Cluster
from tap_optimizer_local.operator_process import NO_AWS_CONFIG, Operator
from tap_optimizer_local.prometheus import PrometheusServer
from tap_optimizer_local.synthetic_service import SyntheticService
from tests.integration.test_operator import _is_target_patch
from tests.support.plans import three_phase_spec

PLANS = 500
NS = "bench"


def rss_kib(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) for key in ("VmRSS", "VmHWM")}


@pytest.mark.bench
def test_500_plans_on_one_operator():
    first_patch: dict[str, float] = {}
    lock = threading.Lock()

    def record(request, moment, _obj):
        if moment == "after" and _is_target_patch(request) and any("/spec/" in op["path"] for op in request.data):
            with lock:
                first_patch.setdefault(request.name, time.monotonic())

    with SyntheticService() as service, PrometheusServer([f"127.0.0.1:{service.port}"]) as prometheus, \
            Cluster() as cluster:
        cluster.server.hooks.append(record)
        for i in range(PLANS):
            cluster.create({"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
                            "metadata": {"name": f"tap-{i}", "namespace": NS}, "spec": {"parameters": {}}})
        gates = slo.gates(prometheus.url, interval="30s", observationWindow="1h")
        gates["metrics"] = gates["metrics"][:1]
        phases = [{"name": "backups", "changes": [
            {"op": "replace", "path": "/spec/parameters/database/backupRetentionDays", "value": 14}]}]
        with Operator(str(cluster.kubeconfig()), tick_seconds=1, config=NO_AWS_CONFIG) as operator:
            idle = rss_kib(operator.process.pid)
            calls_before = sum(cluster.server.calls.values())
            created: dict[str, float] = {}
            started = time.monotonic()
            for i in range(PLANS):
                spec = three_phase_spec(targetRef={"name": f"tap-{i}"}, gates=gates, phases=phases)
                cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                                "metadata": {"name": f"plan-{i}", "namespace": NS}, "spec": spec})
                created[f"tap-{i}"] = time.monotonic()
            deadline = time.monotonic() + 600
            while len(first_patch) < PLANS and time.monotonic() < deadline:
                time.sleep(0.5)
            done = time.monotonic()
            busy = rss_kib(operator.process.pid)
            calls = sum(cluster.server.calls.values()) - calls_before
        latencies = sorted(first_patch[name] - created[name] for name in first_patch)
    print(f"\n{PLANS} plans on one operator: {len(first_patch)} reached their first patch "
          f"in {done - started:.1f} s after the first was created")
    print(f"creation -> first patch: median {statistics.median(latencies):.2f} s, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1]:.2f} s, max {latencies[-1]:.2f} s")
    print(f"operator RSS: {idle['VmRSS'] / 1024:.0f} MiB idle, {busy['VmRSS'] / 1024:.0f} MiB with {PLANS} plans "
          f"(peak {busy['VmHWM'] / 1024:.0f} MiB)")
    print(f"API requests while the plans started (operator and test): {calls} "
          f"({calls / PLANS:.1f} per plan)")
    assert len(first_patch) == PLANS

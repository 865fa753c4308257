"""Benchmark: /dashboard under load cannot slow the control loop.

Three plans step every second on one operator process (gate checks against the real Prometheus,
reads of the plans, targets and composed resources, status writes) while eight local clients
fetch /dashboard as fast as they can for a bounded time. Prints the dashboard's latency and the
operator's step durations (tap_optimizer_reconcile_duration_seconds: each step's Kubernetes and
Prometheus calls) in a quiet period and under load, and holds the loaded mean within the bound.
"""

from __future__ import annotations

import concurrent.futures
import copy
import statistics
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.operator_process import NO_AWS_CONFIG, Operator
from tests.support.plans import three_phase_spec

NS = "bench"
PLANS = 3
CLIENTS = 8
SECONDS = 12.0
MAX_REQUESTS = 4000  # per period, whatever happens: the load stops by itself
BOUND_FACTOR, BOUND_SLACK = 1.5, 0.1  # loaded mean step <= 1.5 x quiet mean + 0.1 s


def step_totals(url: str) -> tuple[float, float]:
    """(sum, count) of the operator's reconcile step durations so far."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name.startswith("tap_optimizer_reconcile_duration_seconds_") and not s.labels}
    name = "tap_optimizer_reconcile_duration_seconds"
    return samples[f"{name}_sum"], samples[f"{name}_count"]


def fetch(url: str, deadline: float, budget: list[int]) -> list[tuple[int, float]]:
    """GET url until the deadline or the shared request budget runs out: (status, seconds) each."""
    out = []
    while time.monotonic() < deadline and budget[0] > 0:
        budget[0] -= 1
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
                status = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        out.append((status, time.monotonic() - started))
    return out


def mean_step(url: str, seconds: float, load: bool) -> tuple[float, int, list[tuple[int, float]]]:
    total_before, count_before = step_totals(url)
    views: list[tuple[int, float]] = []
    deadline = time.monotonic() + seconds
    if load:
        budget = [MAX_REQUESTS]
        with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
            for done in [pool.submit(fetch, f"{url}/dashboard", deadline, budget) for _ in range(CLIENTS)]:
                views += done.result()
    else:
        time.sleep(seconds)
    total, count = step_totals(url)
    return (total - total_before) / max(1, count - count_before), int(count - count_before), views


@pytest.mark.bench
def test_dashboard_load_leaves_the_operators_steps_within_bound(prometheus):
    with local_cluster() as (cluster, _crossplane):
        for i in range(PLANS):
            cluster.create_platform({"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
                                     "metadata": {"name": f"tap-{i}", "namespace": NS},
                                     "spec": {"parameters": {"region": "us-east-1"}}})
        with Operator(str(cluster.kubeconfig()), tick_seconds=0.5, config=NO_AWS_CONFIG) as operator:
            time.sleep(11)  # a baseline window of history
            gates = slo.gates(prometheus.url, interval="1s", observationWindow="120s")
            for i in range(PLANS):
                spec = three_phase_spec(targetRef={"name": f"tap-{i}"}, gates=copy.deepcopy(gates),
                                        phases=[three_phase_spec()["phases"][1]])
                cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                                "metadata": {"name": f"plan-{i}", "namespace": NS}, "spec": spec})
            for i in range(PLANS):
                cluster.wait_for(NS, f"plan-{i}", "Observing", timeout=60)
            quiet, quiet_steps, _ = mean_step(operator.http_url, SECONDS, load=False)
            loaded, loaded_steps, views = mean_step(operator.http_url, SECONDS, load=True)
            states = {cluster.plan(NS, f"plan-{i}")["status"]["state"] for i in range(PLANS)}
    served = sorted(seconds for status, seconds in views if status == 200)
    busy = sum(1 for status, _ in views if status == 503)
    print(f"\n/dashboard: {CLIENTS} clients for {SECONDS:g} s: {len(views)} requests, {len(served)} served "
          f"(p50 {statistics.median(served) * 1000:.0f} ms, p95 {served[int(len(served) * 0.95) - 1] * 1000:.0f} ms), "
          f"{busy} told 503 (busy)")
    print(f"operator steps: quiet {quiet * 1000:.1f} ms mean over {quiet_steps} steps; under load "
          f"{loaded * 1000:.1f} ms mean over {loaded_steps} steps (bound {BOUND_FACTOR:g} x quiet + "
          f"{BOUND_SLACK * 1000:.0f} ms = {(BOUND_FACTOR * quiet + BOUND_SLACK) * 1000:.0f} ms)")
    assert states == {"Observing"}, "the plans kept stepping"
    assert served, "the dashboard answered"
    assert loaded_steps >= quiet_steps * 0.7, "the operator kept its pace under load"
    assert loaded <= BOUND_FACTOR * quiet + BOUND_SLACK

"""The real operator's /metrics and /dashboard, scraped over HTTP while it runs plans against the
local cluster and the real Prometheus: the series the Helm chart's alerts use move as plans do.

One cluster and one operator for the module (each test compares scrapes before and after its own
plan, so the counters' earlier values do not matter)."""

from __future__ import annotations

import copy
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.operator_process import NO_AWS_CONFIG, Operator
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS = "tap"
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}
FINISHED = ("Succeeded", "RolledBack", "Failed")


@pytest.fixture(scope="module")
def stand(prometheus):
    """The cluster with a reconciled TapPlatform, the operator, and a baseline window of healthy history."""
    started = time.monotonic()  # Prometheus has just started: its history grows while the rest starts
    with local_cluster(SCHEMAS) as (cluster, _crossplane):
        cluster.create_platform(copy.deepcopy(PLATFORM))
        with Operator(str(cluster.kubeconfig()), config=NO_AWS_CONFIG) as operator:  # about metrics: no AWS
            time.sleep(max(0.0, 11 - (time.monotonic() - started)))
            yield cluster, operator, prometheus.url


def scrape(operator: Operator) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, keyed by name and sorted labels."""
    with urllib.request.urlopen(f"{operator.http_url}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def create_plan(cluster, name: str, spec: dict) -> None:
    cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                    "metadata": {"name": name, "namespace": NS}, "spec": spec})


def test_a_plan_that_succeeds_moves_the_plan_phase_gate_and_step_series(stand):
    cluster, operator, prometheus_url = stand
    before = scrape(operator)
    assert sample(before, "tap_optimizer_plans", state="Succeeded") == 0
    assert sample(before, "tap_optimizer_errors_total", system="aws") == 0
    create_plan(cluster, "metered", three_phase_spec(gates=slo.gates(prometheus_url, observationWindow="3s")))
    plan = cluster.wait_for(NS, "metered", *FINISHED, timeout=60)
    assert plan["status"]["state"] == "Succeeded", plan["status"].get("message")
    after = scrape(operator)
    assert sample(after, "tap_optimizer_plans", state="Succeeded") == 1
    assert sample(after, "tap_optimizer_phase_transitions_total", to="Succeeded") \
        == sample(before, "tap_optimizer_phase_transitions_total", to="Succeeded") + 3
    assert sample(after, "tap_optimizer_gate_evaluations_total", verdict="Pass") \
        > sample(before, "tap_optimizer_gate_evaluations_total", verdict="Pass")
    assert sample(after, "tap_optimizer_reconcile_duration_seconds_count") \
        > sample(before, "tap_optimizer_reconcile_duration_seconds_count")
    assert sample(after, "tap_optimizer_realized_monthly_savings_dollars") == pytest.approx(4241.2)
    with urllib.request.urlopen(f"{operator.http_url}/", timeout=30) as response:
        assert response.status == 200 and response.url.endswith("/dashboard")
        assert response.headers["Content-Type"].startswith("text/html")
        assert "metered" in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{operator.http_url}/metrics", data=b"", method="POST"))
    assert refused.value.code == 405


def test_a_failed_gate_counts_a_rollback(stand, service):
    cluster, operator, prometheus_url = stand
    before = scrape(operator)
    gates = slo.gates(prometheus_url, observationWindow="40s")
    create_plan(cluster, "regressed", three_phase_spec(gates=gates, phases=[three_phase_spec()["phases"][1]]))
    cluster.wait_for(NS, "regressed", "Observing", timeout=30)
    service.set(error_rate=0.05)
    try:
        plan = cluster.wait_for(NS, "regressed", *FINISHED, timeout=30)
    finally:
        service.set(error_rate=0.001)
    assert plan["status"]["state"] == "RolledBack" and plan["status"]["reason"] == "GateFailed"
    after = scrape(operator)
    rollbacks = {"plan_namespace": NS, "plan_name": "regressed"}  # the alert names the plan by these
    assert sample(after, "tap_optimizer_rollbacks_total", **rollbacks) == \
        sample(before, "tap_optimizer_rollbacks_total", **rollbacks) + 1
    assert sample(after, "tap_optimizer_gate_evaluations_total", verdict="Fail") \
        == sample(before, "tap_optimizer_gate_evaluations_total", verdict="Fail") + 1
    assert sample(after, "tap_optimizer_plans", state="RolledBack") == 1

"""The real operator, as a process, gating plans on Amazon CloudWatch: moto in server mode
(extended with percentiles and metric math) fed every second by a load balancer whose error rate
the test controls, the reference platform's gates (the 5XX ratio as metric math, the
TargetResponseTime p99). A healthy plan succeeds, a regression rolls the phase back to identical
parameters, and a query CloudWatch refuses fails the plan before any change."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import pytest

from tap_optimizer_local import alb_metrics
from tap_optimizer_local.alb_metrics import Alb, LiveAlb
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.moto_aws import Moto
from tap_optimizer_local.operator_process import Operator
from tests.integration.test_operator import NS, PLATFORM, Stand, canonical, planned
from tests.support.aws import point_aws_at
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

REGION = "us-east-1"
CONFIG = {"namespace": "tap-optimizer", "gates": {"endpoints": [alb_metrics.endpoint_config(REGION)]}}


@pytest.fixture(scope="module")
def alb(moto: Moto) -> Iterator[Alb]:
    """A load balancer with a baseline window of history, publishing every second from now on."""
    made = Alb(moto.session().client("cloudwatch", endpoint_url=moto.url))
    now = time.time() // 1
    made.history(now - 10, now)
    with LiveAlb(made):
        yield made


@pytest.fixture
def stand(moto, alb, monkeypatch) -> Iterator[Stand]:
    point_aws_at(moto, monkeypatch)  # the operator process inherits it (gates and instance refreshes)
    with local_cluster(SCHEMAS, aws=moto.autoscaling_backend) as (cluster, crossplane):
        cluster.create_platform(copy.deepcopy(PLATFORM))
        with Operator(str(cluster.kubeconfig()), config=CONFIG) as operator:
            yield Stand(cluster, crossplane, operator, "")


def create_plan(stand: Stand, name: str, **spec_overrides) -> dict:
    spec = three_phase_spec(**{"gates": alb_metrics.gates(), **spec_overrides})
    return stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                                 "metadata": {"name": name, "namespace": NS}, "spec": spec})


def test_a_plan_gated_on_cloudwatch_succeeds_with_exactly_the_planned_parameters(stand):
    before = stand.parameters()
    create_plan(stand, "cloudwatch-healthy")
    plan = stand.wait("cloudwatch-healthy", "Succeeded", "RolledBack", "Failed", "Paused")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    assert stand.parameters() == planned(before, three_phase_spec()["phases"])
    assert set(plan["status"]["baseline"]) == {"error-rate", "p99-latency"}
    assert plan["status"]["baseline"]["p99-latency"] == {'{label="p99"}': pytest.approx(0.05)}
    last = plan["status"]["phases"][0]["checks"][-1]  # [time, verdict, worst series, value, bound]
    assert last[1] == "Pass" and last[2] in ('error-rate{label="5xx-ratio"}', 'p99-latency{label="p99"}')
    assert "errors / requests" in plan["status"]["gateQueries"]["error-rate"]


def test_a_cloudwatch_regression_rolls_the_phase_back_to_identical_parameters(stand, alb):
    before = canonical(stand.parameters())
    create_plan(stand, "cloudwatch-regression", phases=[three_phase_spec()["phases"][1]],
                gates=alb_metrics.gates(observationWindow="40s"))
    stand.wait("cloudwatch-regression", "Observing")
    alb.set(error_rate=0.05)
    try:
        plan = stand.wait("cloudwatch-regression", "RolledBack", "Failed", "Succeeded")
    finally:
        alb.set(error_rate=0.001)
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "GateFailed"), \
        plan["status"]["message"]
    assert 'error-rate{label="5xx-ratio"}' in plan["status"]["message"] and "> max 0.005" in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    assert len(stand.spec_patches) == 2  # the phase, and its restore
    time.sleep(4)  # let the regression leave the lookback periods before the next test


def test_a_query_cloudwatch_rejects_fails_the_plan_before_any_change(stand):
    bad = alb_metrics.error_rate_metric()
    bad["cloudwatch"]["queries"][2]["expression"] = "errors / (requests"
    create_plan(stand, "cloudwatch-rejected", gates=alb_metrics.gates(metrics=[bad, alb_metrics.p99_metric()]))
    plan = stand.wait("cloudwatch-rejected", "Failed", "Succeeded", "RolledBack")
    assert plan["status"]["state"] == "Failed" and "rejected the query: ValidationError" in plan["status"]["message"]
    assert "spec.gates.metrics[error-rate].query" in plan["status"]["message"]
    assert stand.patches == [], "the preflight runs before the lock: no PATCH on the target at all"

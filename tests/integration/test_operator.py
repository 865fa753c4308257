"""The real kopf operator, as a process, against the local cluster (our faithful API server,
the Crossplane stand-in rendering with our function) and the real Prometheus server scraping
a service whose errors the test controls."""

from __future__ import annotations

import copy
import datetime as dt
import json
import threading
import time

import pytest
from kubernetes.client.rest import ApiException

from tap_optimizer.cluster import FIELD_MANAGER
from tap_optimizer.platform import pointer
from tap_optimizer_local import moto_aws, slo
from tap_optimizer_local.apiserver import ApiError
from tap_optimizer_local.cluster import REFUSAL, local_cluster
from tap_optimizer_local.operator_process import Operator
from tap_optimizer_local.processes import wait_until
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS = "tap"
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}


@pytest.fixture(scope="module")
def history(prometheus):
    """A baseline window of healthy history before any plan starts."""
    time.sleep(11)
    return prometheus


class Stand:
    """One test's cluster, Crossplane stand-in and operator, and a record of target patches."""

    def __init__(self, cluster, crossplane, operator, prometheus_url):
        self.cluster, self.crossplane, self.operator = cluster, crossplane, operator
        self.prometheus_url = prometheus_url
        self.patches: list[list[dict]] = []
        cluster.server.hooks.append(self._record)

    def _record(self, request, moment, obj):
        if moment == "after" and _is_target_patch(request):
            self.patches.append([op for op in request.data if op["op"] != "test" and "/spec/" in op["path"]])

    @property
    def spec_patches(self) -> list[list[dict]]:
        return [p for p in self.patches if p]

    def parameters(self) -> dict:
        return self.cluster.platform(NS, "tap-prod")["spec"]["parameters"]

    def plan(self, name: str, **spec_overrides) -> dict:
        spec = three_phase_spec(gates=slo.gates(self.prometheus_url, observationWindow="3s"), **spec_overrides)
        return self.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                                    "metadata": {"name": name, "namespace": NS}, "spec": spec})

    def wait(self, name: str, *states: str, timeout: float = 90) -> dict:
        return self.cluster.wait_for(NS, name, *states, timeout=timeout)

    def annotate(self, name: str, key: str, value: str) -> None:
        self.cluster.custom.patch_namespaced_custom_object(
            "optimization.tap.io", "v1alpha1", NS, "optimizationplans", name,
            {"metadata": {"annotations": {key: value}}}, _content_type="application/merge-patch+json")


def _is_target_patch(request) -> bool:
    return (request.method == "PATCH" and request.resource is not None and request.resource.plural == "tapplatforms"
            and request.subresource is None and request.params.get("fieldManager") == FIELD_MANAGER)


@pytest.fixture
def stand(history, aws_env, monkeypatch):
    """The operator asks moto (aws_env: reset, boto3 pointed at it) for the instance refreshes the
    Crossplane stand-in starts there."""
    monkeypatch.setenv("TAP_OPTIMIZER_PROMETHEUS_URL", history.url)  # the chart's prometheus.url
    with local_cluster(SCHEMAS, aws=aws_env.autoscaling_backend) as (cluster, crossplane):
        cluster.create_platform(copy.deepcopy(PLATFORM))
        with Operator(str(cluster.kubeconfig())) as operator:
            yield Stand(cluster, crossplane, operator, history.url)


def planned(parameters: dict, phases: list[dict]) -> dict:
    out = parameters
    for phase in phases:
        for change in phase["changes"]:
            out = pointer.put(out, change["path"], change.get("value", pointer.ABSENT))
    return out


def canonical(parameters: dict) -> str:
    return json.dumps(parameters, sort_keys=True)


def test_a_three_phase_plan_succeeds_with_exactly_the_planned_parameters(stand):
    before = stand.parameters()
    stand.plan("reference")
    plan = stand.wait("reference", "Succeeded", "RolledBack", "Failed")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    assert stand.parameters() == planned(before, three_phase_spec()["phases"])
    assert [p["state"] for p in plan["status"]["phases"]] == ["Succeeded"] * 3
    assert len(stand.spec_patches) == 3
    platform = stand.cluster.platform(NS, "tap-prod")
    assert "optimization.tap.io/locked-by" not in (platform["metadata"].get("annotations") or {})
    assert FIELD_MANAGER in {m["manager"] for m in platform["metadata"]["managedFields"]}
    reasons = {e["reason"] for e in stand.cluster.events(NS)}
    assert {"BaselineCaptured", "Recorded", "Patched", "GatePass", "PhaseSucceeded", "AllPhasesSucceeded"} <= reasons


def test_a_failed_gate_rolls_back_to_byte_identical_parameters(stand, service):
    before = canonical(stand.parameters())
    stand.plan("regression", rollbackScope="Plan")
    deadline = time.monotonic() + 60
    while (stand.cluster.plan(NS, "regression").get("status") or {}).get("currentPhase", 0) < 1 \
            or stand.cluster.plan(NS, "regression")["status"]["state"] != "Observing":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    service.set(error_rate=0.05)
    try:
        plan = stand.wait("regression", "RolledBack", "Failed", "Succeeded")
    finally:
        service.set(error_rate=0.001)
    assert plan["status"]["state"] == "RolledBack" and plan["status"]["reason"] == "GateFailed"
    assert "error-rate" in plan["status"]["message"] and "> max 0.005" in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    gates = plan["status"]["phases"][1]["gates"][-1]
    assert gates["verdict"] == "Fail" and plan["status"]["gateQueries"]["error-rate"] == slo.error_ratio()
    time.sleep(6)  # let the error window pass before the next test


def test_a_provider_refusal_rolls_the_phase_back_quoting_it(stand):
    before = canonical(stand.parameters())
    stand.crossplane.refuse = {"database-writer"}
    stand.plan("refused", rollbackScope="Plan")
    plan = stand.wait("refused", "RolledBack", "Failed", "Succeeded")
    assert plan["status"]["reason"] == "ApplyRefused"
    assert REFUSAL in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    ready = next(c for c in plan["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "False" and ready["reason"] == "ApplyRefused"


ASYNC_FAILURE = ("async update failed: modifying ElastiCache Replication Group (tap-prod-cache): "
                 "InvalidParameterCombination: Cannot modify the node type while another modification is in progress")


def test_an_async_failure_behind_synced_and_ready_rolls_back_quoting_terraform(stand):
    before = canonical(stand.parameters())
    stand.crossplane.slow = {"cache-replication-group": (1.0, ASYNC_FAILURE)}  # Synced and Ready stay True
    stand.plan("async-failure", rollbackScope="Plan")
    plan = stand.wait("async-failure", "RolledBack", "Failed", "Succeeded")
    assert plan["status"]["state"] == "RolledBack" and plan["status"]["reason"] == "ApplyRefused"
    assert "asynchronous update failed: ApplyFailure: " + ASYNC_FAILURE in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    assert "gates" not in plan["status"]["phases"][1]  # never observed: the change never happened


def test_a_phase_is_observed_only_after_the_async_update_and_the_new_template_version(stand):
    stand.crossplane.slow = {"database-writer": (4.0, None)}
    stand.plan("async-slow")
    deadline = time.monotonic() + 90
    while True:
        status = stand.cluster.plan(NS, "async-slow").get("status") or {}
        phases = status.get("phases") or [{}] * 3
        if phases[2].get("patchedAt"):
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    patched = dt.datetime.fromisoformat(phases[2]["patchedAt"].replace("Z", "+00:00"))
    plan = stand.wait("async-slow", "Succeeded", "RolledBack", "Failed")
    database, compute = plan["status"]["phases"][2], plan["status"]["phases"][1]
    applied = dt.datetime.fromisoformat(database["appliedAt"].replace("Z", "+00:00"))
    assert (applied - patched).total_seconds() >= 3.5  # the async update ran 4 s; Synced/Ready said True at once
    group = stand.cluster.get(("autoscaling.aws.m.upbound.io", "v1beta1", "autoscalinggroups"), NS,
                              "tap-prod-compute-asg")
    assert group["spec"]["forProvider"]["launchTemplate"]["version"] == "2"  # moved to the new type's version
    assert compute["state"] == "Succeeded"


GROUP_NAME = "tap-prod-compute-asg"  # the Auto Scaling group's external name, as moto has its refreshes
REFRESH_FAILURE = ("Instance refresh failed: instances launched from the new launch template failed their ELB "
                   "health checks.")


def _at(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_an_instance_type_phase_is_observed_only_after_its_instance_refresh_succeeded(stand, aws_env):
    stand.crossplane.refresh_seconds = 4.0  # the group runs the new version at once; its instances take 4 s
    stand.plan("refresh-slow", phases=[three_phase_spec()["phases"][1]])
    plan = stand.wait("refresh-slow", "Succeeded", "RolledBack", "Failed")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    compute = plan["status"]["phases"][0]
    (refresh,) = moto_aws.describe_refreshes(aws_env.autoscaling_backend("us-east-1"), GROUP_NAME)
    assert refresh["Status"] == "Successful"
    patched, applied = _at(compute["patchedAt"]), _at(compute["appliedAt"])
    assert refresh["StartTime"] >= patched - dt.timedelta(seconds=1), "the change started it"
    assert applied >= refresh["EndTime"].replace(microsecond=0), (applied, refresh["EndTime"])
    assert (applied - patched).total_seconds() >= 3.5, "observed only once the 4 s refresh was over"


def test_a_failed_instance_refresh_rolls_the_phase_back_quoting_aws(stand, aws_env):
    before = canonical(stand.parameters())
    backend = aws_env.autoscaling_backend("us-east-1")
    stand.crossplane.refresh_seconds = 1.0
    stand.crossplane.refresh_fails = REFRESH_FAILURE
    stand.plan("refresh-failed", phases=[three_phase_spec()["phases"][1]])
    wait_until(lambda: any(r["Status"] == "Failed" for r in moto_aws.describe_refreshes(backend, GROUP_NAME)),
               60, "the change's instance refresh to fail")
    stand.crossplane.refresh_fails = None  # the rollback's refresh, back to the old type, succeeds
    plan = stand.wait("refresh-failed", "RolledBack", "Failed", "Succeeded")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "ApplyRefused"), \
        plan["status"]["message"]
    assert "ended Failed: " + REFRESH_FAILURE in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    assert "gates" not in plan["status"]["phases"][0], "never observed: its instances never ran the new type"


def test_a_second_plan_on_the_same_target_is_blocked_naming_the_holder(stand):
    stand.plan("first")
    stand.wait("first", "Progressing", "Observing")
    stand.plan("second")
    second = stand.wait("second", "Blocked")
    assert "being changed by plan tap/first" in second["status"]["message"]


def test_approval_by_annotation_then_abort_rolls_back(stand):
    before = canonical(stand.parameters())
    phases = copy.deepcopy(three_phase_spec()["phases"])
    phases[0]["requiresApproval"] = True
    stand.plan("gated", phases=phases)
    waiting = stand.wait("gated", "AwaitingApproval")
    assert "optimization.tap.io/approve=dynamodb" in waiting["status"]["message"]
    assert stand.spec_patches == []
    stand.annotate("gated", "optimization.tap.io/approve", "dynamodb")
    stand.wait("gated", "Observing")
    stand.annotate("gated", "optimization.tap.io/abort", "true")
    plan = stand.wait("gated", "RolledBack")
    assert plan["status"]["reason"] == "Aborted" and canonical(stand.parameters()) == before


def test_a_plan_without_a_prometheus_url_uses_the_operators_default(stand):
    spec = three_phase_spec(gates=slo.gates("http://unused", observationWindow="3s"))
    del spec["gates"]["prometheus"]
    spec["phases"] = spec["phases"][:1]
    stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                          "metadata": {"name": "default-url", "namespace": NS}, "spec": spec})
    plan = stand.wait("default-url", "Succeeded", "RolledBack", "Failed", "Paused")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    checks = plan["status"]["phases"][0]["checks"]
    assert checks and all(verdict == "Pass" and value is not None for _, verdict, _, value, _ in checks)


def test_dry_run_records_patches_and_changes_nothing(stand):
    before = canonical(stand.parameters())
    stand.plan("dry", dryRun=True)
    plan = stand.wait("dry", "Succeeded")
    assert plan["status"]["reason"] == "DryRun" and stand.patches == []
    assert canonical(stand.parameters()) == before
    assert {"op": "replace", "path": "/spec/parameters/compute/instanceType", "value": "m5.2xlarge"} in \
        plan["status"]["phases"][1]["wouldPatch"]


def test_the_api_server_refuses_a_malformed_plan_naming_the_field(stand):
    spec = three_phase_spec(gates=slo.gates(stand.prometheus_url))
    spec["phases"][0]["changes"][0]["path"] = "/metadata/labels/x"
    with pytest.raises(ApiException) as refused:
        stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                              "metadata": {"name": "bad", "namespace": NS}, "spec": spec})
    assert refused.value.status == 422
    assert "spec.phases[0].changes[0].path: '/metadata/labels/x' does not match" in refused.value.body


CRASH_POINTS = ["after recording, before the patch", "after the patch", "during observation", "during rollback"]


@pytest.mark.parametrize("crash", CRASH_POINTS)
def test_a_crash_at_each_step_boundary_ends_like_an_uninterrupted_run(stand, crash):
    """Phase 2 is refused by the provider, so the plan applies two phases and rolls both back."""
    before = canonical(stand.parameters())
    stand.crossplane.refuse = {"database-writer"}
    phases = [three_phase_spec()["phases"][1], three_phase_spec()["phases"][2]]
    crashed = threading.Event()

    def crash_hook(request, moment, _obj):
        if crashed.is_set() or not _is_target_patch(request) or not any("/spec/" in op["path"] for op in request.data):
            return
        applied = len(stand.spec_patches)
        if crash == CRASH_POINTS[0] and moment == "before":
            crashed.set()
            stand.operator.kill()
            raise ApiError(503, "ServiceUnavailable", "the client died")
        if (crash == CRASH_POINTS[1] and moment == "after" and applied == 1) or \
                (crash == CRASH_POINTS[3] and moment == "after" and applied == 3):
            crashed.set()
            stand.operator.kill()

    stand.cluster.server.hooks.append(crash_hook)
    stand.plan("crashy", phases=phases, rollbackScope="Plan")
    if crash == CRASH_POINTS[2]:
        stand.wait("crashy", "Observing")
        crashed.set()
        stand.operator.kill()
    deadline = time.monotonic() + 60
    while not crashed.is_set():
        assert time.monotonic() < deadline, "the crash point was never reached"
        time.sleep(0.1)
    stand.operator.start()
    plan = stand.wait("crashy", "RolledBack", "Failed", "Succeeded")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "ApplyRefused"), \
        plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    assert len(stand.spec_patches) == 4  # apply 1, apply 2, restore 2, restore 1: nothing twice
    assert stand.operator.starts == 2


@pytest.mark.parametrize("rollback_on_delete", [False, True], ids=["keeps the changes", "rolls back first"])
def test_deleting_a_plan_releases_its_target(stand, rollback_on_delete):
    before = canonical(stand.parameters())
    stand.plan("deleted", rollbackOnDelete=rollback_on_delete)
    stand.wait("deleted", "Observing")
    applied = canonical(stand.parameters())
    stand.cluster.custom.delete_namespaced_custom_object("optimization.tap.io", "v1alpha1", NS,
                                                         "optimizationplans", "deleted")
    deadline = time.monotonic() + 60
    while stand.cluster.plan(NS, "deleted") is not None:
        assert time.monotonic() < deadline, "the finalizer was never removed"
        time.sleep(0.2)
    platform = stand.cluster.platform(NS, "tap-prod")
    assert "optimization.tap.io/locked-by" not in (platform["metadata"].get("annotations") or {})
    assert canonical(stand.parameters()) == (before if rollback_on_delete else applied)


def observe_first_phase(stand, name: str, window: str = slo.WINDOW, **gate_options) -> None:
    """Start a one-phase plan with a long observation window and wait until it is being observed."""
    gates = slo.gates(stand.prometheus_url, window=window, observationWindow="40s", **gate_options)
    spec = three_phase_spec(gates=gates, phases=[three_phase_spec()["phases"][1]])
    stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                          "metadata": {"name": name, "namespace": NS}, "spec": spec})
    stand.wait(name, "Observing")


@pytest.mark.parametrize(("regression", "metric", "named"), [
    ({"latency": 0.09}, "p99-latency", "> baseline"),
    ({"tenant": "t2", "error_rate": 0.05}, "tenant-error-rate", 'tenant="t2"'),
], ids=["p99 latency 80 % over the baseline", "one tenant's errors"])
def test_a_regression_during_observation_rolls_the_phase_back(stand, service, regression, metric, named):
    before = canonical(stand.parameters())
    observe_first_phase(stand, "slo", per_tenant=True)
    tenant = regression.get("tenant")
    service.set(tenant, **{k: v for k, v in regression.items() if k != "tenant"})
    try:
        plan = stand.wait("slo", "RolledBack", "Failed", "Succeeded")
    finally:
        service.set(tenant, latency=0.05, error_rate=0.001)
    assert plan["status"]["reason"] == "GateFailed" and named in plan["status"]["message"]
    failed = [m for m in plan["status"]["phases"][0]["gates"][-1]["metrics"] if m["verdict"] == "Fail"]
    assert metric in {m["name"] for m in failed}
    assert canonical(stand.parameters()) == before
    time.sleep(6)  # let the regression leave the query windows


def gates_condition(plan: dict) -> dict:
    return next((c for c in plan["status"].get("conditions", []) if c["type"] == "GatesConclusive"), {})


def test_prometheus_down_past_the_limit_rolls_the_phase_back_byte_identical(stand, prometheus):
    """The defaults: an unobserved change does not stay."""
    before = canonical(stand.parameters())
    observe_first_phase(stand, "outage", window="15s")
    prometheus.stop()
    try:
        plan = stand.wait("outage", "RolledBack", "Failed", "Succeeded")
    finally:
        prometheus.start()
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "GatesInconclusive")
    assert "inconclusive gate check 3 of 3 in a row (Unreachable)" in plan["status"]["message"]
    assert canonical(stand.parameters()) == before
    assert len(stand.spec_patches) == 2  # the phase, then its restore
    assert gates_condition(plan)["reason"] == "Unreachable"


def test_a_short_outage_holds_visibly_then_a_whole_conclusive_window_is_observed(stand, prometheus):
    # A window longer than the outage: right after a restart a 5 s window holds a second of data,
    # too few requests for a stable p99 (the product's 5 m windows have no such problem).
    observe_first_phase(stand, "blip", window="15s", inconclusiveLimit=30)
    time.sleep(3)
    prometheus.stop()
    try:
        stopped, deadline = time.monotonic(), time.monotonic() + 10
        while gates_condition(stand.cluster.plan(NS, "blip")).get("status") != "False":
            assert time.monotonic() < deadline, "the hold never became visible"
            time.sleep(0.1)
        visible = time.monotonic() - stopped
        held = stand.cluster.plan(NS, "blip")
    finally:
        prometheus.start()
    assert visible < 1 + 0.3 + 2, "within one interval (1 s) and one operator tick (0.3 s), with slack"
    assert held["status"]["state"] == "Observing" and held["status"]["reason"] == "InconclusiveCheck"
    assert gates_condition(held)["reason"] == "Unreachable"
    assert "InconclusiveCheck" not in {e["reason"] for e in stand.cluster.events(NS)}
    assert "GatesInconclusive" in {e["reason"] for e in stand.cluster.events(NS)}
    plan = stand.wait("blip", "Succeeded", "RolledBack", "Failed")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    record = plan["status"]["phases"][0]
    evidence, took = record["evidence"], seconds_between(record["appliedAt"], record["succeededAt"])
    assert evidence["conclusiveSeconds"] >= evidence["requiredSeconds"] == 40
    assert evidence["checks"]["Inconclusive"] >= 1
    assert took >= 40 + evidence["checks"]["Inconclusive"] * 0.5, "the outage did not count as observed time"
    assert len(stand.spec_patches) == 1


def seconds_between(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end.replace("Z", "+00:00"))
            - dt.datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()


def test_a_query_prometheus_rejects_fails_the_plan_with_no_patch_on_the_target(stand):
    gates = slo.gates(stand.prometheus_url)
    gates["metrics"][1]["query"] = "histogram_quantile(0.99, sum by (le) (rate(tap_request_duration_seconds_bucket[5s]"
    stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                          "metadata": {"name": "bad-promql", "namespace": NS},
                          "spec": three_phase_spec(gates=gates)})
    plan = stand.wait("bad-promql", "Failed", "Observing", "RolledBack", "Succeeded")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("Failed", "InvalidQuery")
    assert "spec.gates.metrics[p99-latency].query" in plan["status"]["message"]
    assert "bad_data" in plan["status"]["message"]
    assert stand.patches == [], "no PATCH at all on the TapPlatform, not even the lock"


def test_suspend_pauses_at_the_next_safe_point_and_resume_continues(stand):
    stand.plan("paused")
    stand.wait("paused", "Observing")
    stand.cluster.custom.patch_namespaced_custom_object(
        "optimization.tap.io", "v1alpha1", NS, "optimizationplans", "paused", {"spec": {"suspend": True}},
        _content_type="application/merge-patch+json")
    plan = stand.wait("paused", "Paused")
    assert plan["status"]["reason"] == "Suspended"
    held = len(stand.spec_patches)
    time.sleep(5)
    assert len(stand.spec_patches) == held and stand.cluster.plan(NS, "paused")["status"]["state"] == "Paused"
    stand.cluster.custom.patch_namespaced_custom_object(
        "optimization.tap.io", "v1alpha1", NS, "optimizationplans", "paused", {"spec": {"suspend": False}},
        _content_type="application/merge-patch+json")
    assert stand.wait("paused", "Succeeded", "RolledBack", "Failed")["status"]["state"] == "Succeeded"


def edit_plan(stand, name: str, body: dict) -> None:
    stand.cluster.custom.patch_namespaced_custom_object(
        "optimization.tap.io", "v1alpha1", NS, "optimizationplans", name, body,
        _content_type="application/merge-patch+json")


def rolling_back_while_crossplane_waits(stand, name: str, **overrides) -> None:
    """A plan aborted while observing its first phase, its restore patched but not live: Crossplane
    holds its reconciles."""
    stand.plan(name, **overrides)
    stand.wait(name, "Observing")
    stand.crossplane.paused = True
    stand.annotate(name, "optimization.tap.io/abort", "true")
    stand.wait(name, "RollingBack")
    deadline = time.monotonic() + 20
    while len(stand.spec_patches) < 2:
        assert time.monotonic() < deadline, "the restore was never patched"
        time.sleep(0.1)


def test_an_edit_the_operator_refuses_does_not_stop_a_rollback(stand):
    before = canonical(stand.parameters())
    rolling_back_while_crossplane_waits(stand, "edited")
    edit_plan(stand, "edited", {"spec": {"gates": {"interval": "1h"}, "rollbackOnDelete": True}})
    time.sleep(2)
    assert stand.cluster.plan(NS, "edited")["status"]["state"] == "RollingBack"
    stand.crossplane.paused = False
    plan = stand.wait("edited", "RolledBack", "Failed")
    assert plan["status"]["state"] == "RolledBack", plan["status"]["message"]
    assert canonical(stand.parameters()) == before and len(stand.spec_patches) == 2


def test_deleting_a_plan_mid_rollback_finishes_the_rollback_before_it_goes(stand):
    before = canonical(stand.parameters())
    rolling_back_while_crossplane_waits(stand, "deleted-mid-rollback")
    stand.cluster.custom.delete_namespaced_custom_object("optimization.tap.io", "v1alpha1", NS,
                                                         "optimizationplans", "deleted-mid-rollback")
    time.sleep(2)
    held = stand.cluster.plan(NS, "deleted-mid-rollback")
    assert held is not None and held["status"]["state"] == "RollingBack", "the finalizer waits for the rollback"
    stand.crossplane.paused = False
    deadline = time.monotonic() + 60
    while stand.cluster.plan(NS, "deleted-mid-rollback") is not None:
        assert time.monotonic() < deadline, "the plan never went"
        time.sleep(0.2)
    assert canonical(stand.parameters()) == before
    platform = stand.cluster.platform(NS, "tap-prod")
    assert "optimization.tap.io/locked-by" not in (platform["metadata"].get("annotations") or {})


def test_a_value_set_back_by_someone_else_pauses_the_plan_with_drift_until_it_is_back(stand):
    phases = [three_phase_spec()["phases"][1]]
    gates = slo.gates(stand.prometheus_url, observationWindow="20s")
    stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                          "metadata": {"name": "drifting", "namespace": NS},
                          "spec": three_phase_spec(gates=gates, phases=phases)})
    stand.wait("drifting", "Observing")
    set_by_someone_else = {"spec": {"parameters": {"compute": {"instanceType": "m5.4xlarge"}}}}
    stand.cluster.custom.patch_namespaced_custom_object("platform.tap.io", "v1alpha1", NS, "tapplatforms", "tap-prod",
                                                        set_by_someone_else, field_manager="argocd-controller",
                                                        _content_type="application/merge-patch+json")
    plan = stand.wait("drifting", "Paused", "Succeeded", "RolledBack", "Failed")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("Paused", "Drift")
    drift = next(c for c in plan["status"]["conditions"] if c["type"] == "Drift")
    assert "/spec/parameters/compute/instanceType: planned 'm5.2xlarge', found 'm5.4xlarge'" in drift["message"]
    time.sleep(3)
    assert stand.cluster.plan(NS, "drifting")["status"]["state"] == "Paused", "never a success while drifted"
    back = {"spec": {"parameters": {"compute": {"instanceType": "m5.2xlarge"}}}}
    stand.cluster.custom.patch_namespaced_custom_object("platform.tap.io", "v1alpha1", NS, "tapplatforms", "tap-prod",
                                                        back, field_manager="argocd-controller",
                                                        _content_type="application/merge-patch+json")
    plan = stand.wait("drifting", "Succeeded", "RolledBack", "Failed")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    assert plan["status"]["phases"][0]["evidence"]["conclusiveSeconds"] >= 20


def test_a_removed_lock_annotation_neither_lets_a_second_plan_in_nor_strands_the_first(stand):
    stand.plan("first-holder")
    stand.wait("first-holder", "Observing")
    lock = "/metadata/annotations/optimization.tap.io~1locked-by"
    stand.cluster.custom.patch_namespaced_custom_object("platform.tap.io", "v1alpha1", NS, "tapplatforms", "tap-prod",
                                                        [{"op": "remove", "path": lock}],
                                                        _content_type="application/json-patch+json")
    later = [{"name": "later", "changes": [{"op": "replace", "path": "/spec/parameters/compute/targetCpuPercent",
                                            "value": 55}]}]
    stand.plan("second-comer", phases=later)
    second = stand.wait("second-comer", "Blocked", "Progressing", "Observing")
    assert second["status"]["state"] == "Blocked" and "tap/first-holder" in second["status"]["message"]
    first = stand.wait("first-holder", "Succeeded", "RolledBack", "Failed")
    assert first["status"]["state"] == "Succeeded", first["status"]["message"]
    assert "LockRetaken" in {e["reason"] for e in stand.cluster.events(NS)}
    second = stand.wait("second-comer", "Succeeded", "RolledBack", "Failed")
    assert second["status"]["state"] == "Succeeded", (second["status"]["reason"], second["status"]["message"])

"""The real kopf operator, as a process, changing ACK objects: the emulated API server with the
upstream ACK CRDs, the ACK stand-in controller reconciling them as ACK does (conditions restamped
without observedGeneration, the spec written back from "AWS" with GSIs in AWS's order and filled
in, `modifying` then `available`, Terminal by error), and the real Prometheus server gating."""

from __future__ import annotations

import copy
import datetime as dt
import time

import pytest

from tap_optimizer.cluster import FIELD_MANAGER, plural
from tap_optimizer.platform import keyed
from tap_optimizer.targets import conditions
from tap_optimizer.targets.ack import SYNCED
from tap_optimizer_local import slo
from tap_optimizer_local.ack import local_ack
from tap_optimizer_local.operator_process import LOCAL_CONFIG, Operator
from tap_optimizer_local.processes import wait_until
from tests.support.crds import SCHEMAS

NS = "shop"
RDS, DYNAMODB = "rds.services.k8s.aws/v1alpha1", "dynamodb.services.k8s.aws/v1alpha1"
KINDS = [{"apiVersion": RDS, "kind": "DBInstance"}, {"apiVersion": DYNAMODB, "kind": "Table"}]
CLASS, BY_ROLE = "/spec/dbInstanceClass", "/spec/globalSecondaryIndexes[indexName=ByRole]"
REFUSAL = ("InvalidParameterCombination: RDS does not support creating a DB instance with the following "
           "combination: DBInstanceClass=db.t4g.nano, Engine=postgres, EngineVersion=16.4")


@pytest.fixture(scope="module")
def history(prometheus):
    """A baseline window of healthy history before any plan starts."""
    time.sleep(11)
    return prometheus


class Stand:
    """The cluster, the ACK stand-in, the operator allowed DBInstance and Table, and a record of
    every write the operator made to an ACK object."""

    def __init__(self, cluster, ack, prometheus_url: str):
        self.cluster, self.ack, self.prometheus_url = cluster, ack, prometheus_url
        self.patches: list[tuple[float, str, list[dict]]] = []
        cluster.server.hooks.append(self._record)

    def _record(self, request, moment, obj):
        resource = request.resource
        if moment == "after" and request.method == "PATCH" and resource is not None and \
                resource.group.endswith(".services.k8s.aws") and request.params.get("fieldManager") == FIELD_MANAGER:
            self.patches.append((time.time(), request.name, list(request.data)))

    def spec_patches(self, name: str) -> list[list[dict]]:
        return [[op for op in ops if op["op"] != "test" and op["path"].startswith("/spec/")]
                for _, target, ops in self.patches if target == name and any("/spec/" in o["path"] for o in ops)]

    def create(self, obj: dict) -> dict:
        self.cluster.create(obj)
        wait_until(lambda: conditions.condition(self.read(obj), SYNCED).get("status") == "True", 10,
                   f"{obj['kind']} {obj['metadata']['name']} synced")
        return self.read(obj)

    def read(self, obj: dict) -> dict:
        group, version = obj["apiVersion"].split("/")
        return self.cluster.get((group, version, plural(obj["kind"])), NS, obj["metadata"]["name"])

    def plan(self, name: str, target: dict, phases: list[dict], **spec) -> dict:
        body = {"targetRef": {"apiVersion": target["apiVersion"], "kind": target["kind"],
                              "name": target["metadata"]["name"]},
                "gates": slo.gates(self.prometheus_url, observationWindow="3s"), "phases": phases, **spec}
        return self.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                                    "metadata": {"name": name, "namespace": NS}, "spec": body})

    def wait(self, name: str, *states: str, timeout: float = 90) -> dict:
        return self.cluster.wait_for(NS, name, *states, timeout=timeout)


@pytest.fixture(scope="module")
def stand(history):
    with local_ack(SCHEMAS) as (cluster, ack), \
            Operator(str(cluster.kubeconfig()), config={**LOCAL_CONFIG, "targets": {"kinds": KINDS}}):
        yield Stand(cluster, ack, history.url)


def instance(name: str) -> dict:
    return {"apiVersion": RDS, "kind": "DBInstance", "metadata": {"name": name, "namespace": NS},
            "spec": {"dbInstanceIdentifier": name, "engine": "postgres", "dbInstanceClass": "db.r6g.large",
                     "availabilityZone": "eu-west-1a"}}


def index(name: str, attribute: str) -> dict:
    return {"indexName": name, "keySchema": [{"attributeName": attribute, "keyType": "HASH"}],
            "projection": {"projectionType": "ALL"}}


def test_a_class_change_is_observed_only_once_aws_reports_the_instance_available_on_it(stand):
    stand.ack.slow["orders"] = 3.0
    obj = stand.create(instance("orders"))
    seen: list[tuple[float, str]] = []  # (time, dbInstanceStatus) of every write once the class is asked
    stand.cluster.server.hooks.append(lambda request, moment, found: seen.append(
        (time.time(), (found.get("status") or {}).get("dbInstanceStatus", ""))) if (
        moment == "after" and request.name == "orders" and isinstance(found, dict)
        and (found.get("spec") or {}).get("dbInstanceClass") == "db.r6g.xlarge") else None)
    stand.plan("resize", obj, [{"name": "writer", "changes": [
        {"op": "replace", "path": CLASS, "value": "db.r6g.xlarge"}]}])
    plan = stand.wait("resize", "Succeeded", "RolledBack", "Failed")
    assert plan["status"]["state"] == "Succeeded", plan["status"]["message"]
    (phase,) = plan["status"]["phases"]
    assert phase["changes"] == [{"path": CLASS, "before": "db.r6g.large", "after": "db.r6g.xlarge"}]
    modifying = [t for t, state in seen if state == "modifying"]
    available = [t for t, state in seen if state == "available" and modifying and t > modifying[0]]
    assert modifying and available and available[0] - modifying[0] >= 2.5  # the stand-in modified for 3 s
    observing = dt.datetime.fromisoformat(phase["appliedAt"].replace("Z", "+00:00")).timestamp()
    assert observing >= available[0] - 0.001  # the window began only once AWS had the new class
    assert stand.read(obj)["spec"]["dbInstanceClass"] == "db.r6g.xlarge"
    assert stand.ack.aws["DBInstance", NS, "orders"]["dbInstanceClass"] == "db.r6g.xlarge"
    assert "optimization.tap.io/locked-by" not in (stand.read(obj)["metadata"].get("annotations") or {})


def test_a_terminal_refusal_rolls_back_exactly_and_quotes_aws(stand):
    stand.ack.refuse["billing"] = REFUSAL
    obj = stand.create(instance("billing"))
    stand.plan("shrink", obj, [{"name": "writer", "changes": [
        {"op": "replace", "path": CLASS, "value": "db.t4g.nano"}]}])
    plan = stand.wait("shrink", "Succeeded", "RolledBack", "Failed")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "ApplyRefused")
    assert REFUSAL in plan["status"]["message"] and "ACK.Terminal" in plan["status"]["message"]
    assert plan["status"]["phases"][0]["state"] == "RolledBack"
    assert plan["status"]["phases"][0].get("conflicts", []) == []
    assert stand.spec_patches("billing") == [[{"op": "replace", "path": CLASS, "value": "db.t4g.nano"}],
                                            [{"op": "replace", "path": CLASS, "value": "db.r6g.large"}]]
    assert stand.read(obj)["spec"]["dbInstanceClass"] == "db.r6g.large"
    assert stand.ack.aws["DBInstance", NS, "billing"]["dbInstanceClass"] == "db.r6g.large"


def test_a_gsi_removed_by_key_and_rolled_back_comes_back_identical_once(stand):
    stand.ack.slow["users"] = 1.0
    obj = stand.create({
        "apiVersion": DYNAMODB, "kind": "Table", "metadata": {"name": "users", "namespace": NS},
        "spec": {"tableName": "users", "billingMode": "PAY_PER_REQUEST",
                 "attributeDefinitions": [{"attributeName": a, "attributeType": "S"}
                                          for a in ("id", "role", "tenant", "plan")],
                 "keySchema": [{"attributeName": "id", "keyType": "HASH"}],
                 "globalSecondaryIndexes": [index("ByRole", "role"), index("ByTenant", "tenant"),
                                            index("ByPlan", "plan")]}})
    written_back = copy.deepcopy(obj["spec"]["globalSecondaryIndexes"])
    assert [i["indexName"] for i in written_back] == ["ByPlan", "ByRole", "ByTenant"]  # AWS's order, filled in
    stand.plan("drop-index", obj, [{"name": "indexes", "changes": [{"op": "remove", "path": BY_ROLE}]}],
               approveIrreversible=True, gates=slo.gates(stand.prometheus_url, observationWindow="60s"))
    wait_until(lambda: (stand.cluster.plan(NS, "drop-index").get("status") or {}).get("state") == "Observing", 60,
               "the removal observed")
    assert [i["indexName"] for i in stand.read(obj)["spec"]["globalSecondaryIndexes"]] == ["ByPlan", "ByTenant"]
    stand.cluster.custom.patch_namespaced_custom_object(
        "optimization.tap.io", "v1alpha1", NS, "optimizationplans", "drop-index",
        {"metadata": {"annotations": {"optimization.tap.io/abort": "true"}}},
        _content_type="application/merge-patch+json")
    plan = stand.wait("drop-index", "RolledBack", "Failed")
    assert plan["status"]["state"] == "RolledBack", plan["status"]["message"]
    (phase,) = plan["status"]["phases"]
    assert phase["state"] == "RolledBack" and phase.get("conflicts", []) == []
    assert phase["oneWayDoors"]
    wait_until(lambda: stand.read(obj)["spec"]["globalSecondaryIndexes"] == written_back, 10,
               "the GSIs written back in AWS's order")
    restored = stand.read(obj)
    assert keyed.get(restored, BY_ROLE) == keyed.get(obj, BY_ROLE)
    assert [i["indexName"] for i in restored["spec"]["globalSecondaryIndexes"]].count("ByRole") == 1
    removal, restore = stand.spec_patches("users")
    assert removal == [{"op": "remove", "path": "/spec/globalSecondaryIndexes/1"}]
    assert restore == [{"op": "add", "path": "/spec/globalSecondaryIndexes/-", "value": keyed.get(obj, BY_ROLE)}]


@pytest.mark.parametrize(("path", "value", "named"), [
    ("/spec/availabilityZone", "eu-west-1b", "/spec/availabilityZone"),
    ("/spec/dbInstanceIdentifier", "other", "/spec/dbInstanceIdentifier"),
])
def test_a_change_of_a_field_no_plan_may_change_sends_no_patch(stand, path, value, named):
    name = f"fixed-{path.rsplit('/', 1)[-1].lower()}"
    obj = stand.create(instance(name))
    stand.plan(name, obj, [{"name": "move", "changes": [{"op": "replace", "path": path, "value": value}]}])
    plan = stand.wait(name, "Failed")
    assert plan["status"]["reason"] == "InvalidSpec" and named in plan["status"]["message"]
    assert [ops for _, target, ops in stand.patches if target == name] == []
    assert stand.read(obj)["spec"] == obj["spec"]


def test_a_kind_outside_the_allow_list_is_blocked_and_never_read(stand):
    group = {"apiVersion": "elasticache.services.k8s.aws/v1alpha1", "kind": "ReplicationGroup",
             "metadata": {"name": "sessions", "namespace": NS}}
    stand.plan("cache", group, [{"name": "nodes", "changes": [
        {"op": "replace", "path": "/spec/cacheNodeType", "value": "cache.r7g.large"}]}])
    plan = stand.wait("cache", "Blocked")
    assert plan["status"]["reason"] == "KindNotAllowed"
    assert "targets.kinds" in plan["status"]["message"] and "ReplicationGroup" in plan["status"]["message"]

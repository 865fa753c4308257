"""The ACK adapters read the ACK stand-in's objects right over time: on the emulated API server with
the upstream ACK CRDs, objects are patched as the operator patches them (JSON patch from keyed
pointers, our field manager; the change's time is the API server's), and the stand-in reconciles
them as ACK does (conditions restamped without observedGeneration, the spec written back from
"AWS", per-kind status, Terminal and Recoverable by error, read-only honoured)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from tap_optimizer.cluster import FIELD_MANAGER, JSON_PATCH, plural
from tap_optimizer.plan.model import Readiness
from tap_optimizer.platform import keyed
from tap_optimizer.platform.pointer import ABSENT
from tap_optimizer.targets import conditions
from tap_optimizer.targets.ack import SYNCED, adapter, caught_up, patched_at, untouchable
from tap_optimizer_local.ack import local_ack
from tap_optimizer_local.processes import wait_until
from tests.support.crds import SCHEMAS

NAMESPACE = "shop"
CLASS = "/spec/dbInstanceClass"
BY_ROLE = "/spec/globalSecondaryIndexes[indexName=ByRole]"
REFUSAL = ("InvalidParameterCombination: RDS does not support creating a DB instance with the following "
           "combination: DBInstanceClass=db.t4g.nano, Engine=postgres, EngineVersion=16.4, "
           "LicenseModel=postgresql-license")


@pytest.fixture(scope="module")
def ack():
    with local_ack(SCHEMAS) as (cluster, controller):
        yield cluster, controller


def instance(name: str, annotations: dict | None = None) -> dict:
    return {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance",
            "metadata": {"name": name, "namespace": NAMESPACE, "annotations": annotations or {}},
            "spec": {"dbInstanceIdentifier": name, "engine": "postgres", "dbInstanceClass": "db.r6g.large",
                     "availabilityZone": "eu-west-1a"}}


def index(name: str, attribute: str) -> dict:
    return {"indexName": name, "keySchema": [{"attributeName": attribute, "keyType": "HASH"}],
            "projection": {"projectionType": "ALL"}}


def read(cluster, obj: dict) -> dict:
    group = obj["apiVersion"].split("/")[0]
    return cluster.get((group, "v1alpha1", plural(obj["kind"])), NAMESPACE, obj["metadata"]["name"])


def created(cluster, obj: dict) -> dict:
    """Create the object and wait until the stand-in reports it synced; then let the clock pass a
    second, so a condition stamped at creation is older than any change (stamps are in seconds)."""
    cluster.create(obj)
    wait_until(lambda: conditions.condition(read(cluster, obj), SYNCED).get("status") == "True", 10,
               f"{obj['kind']} {obj['metadata']['name']} synced")
    time.sleep(1.0 - dt.datetime.now(dt.UTC).microsecond / 1e6 + 0.05)
    return read(cluster, obj)


def patch(cluster, obj: dict, changes: dict) -> dt.datetime:
    """JSON-patch the changes as the operator does; the API server's time of our write."""
    ops = [op for path, value in changes.items() for op in keyed.patch_ops(obj, path, keyed.get(obj, path), value)]
    group = obj["apiVersion"].split("/")[0]
    stored = cluster.custom.patch_namespaced_custom_object(group, "v1alpha1", NAMESPACE, plural(obj["kind"]),
                                                           obj["metadata"]["name"], ops, field_manager=FIELD_MANAGER,
                                                           _content_type=JSON_PATCH)
    since = patched_at(stored, FIELD_MANAGER)
    assert since is not None
    return since


def follow(cluster, obj: dict, changes: dict, since: dt.datetime, timeout: float = 20) -> list[tuple[Readiness, dict]]:
    """The adapter's reading of the object every 0.1 s, with the object read, until it stops waiting."""
    kind = adapter(obj["apiVersion"], obj["kind"])
    assert kind is not None
    readings: list[tuple[Readiness, dict]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read(cluster, obj)
        readings.append((caught_up(kind, found, changes, since), found))
        if readings[-1][0].state != "Waiting":
            return readings
        time.sleep(0.1)
    raise AssertionError(f"still waiting after {timeout} s: {readings[-1][0]}")


def during(readings: list[tuple[Readiness, dict]], index_status: str) -> list[Readiness]:
    """The readings taken while AWS described ByRole in this state; each must be Waiting."""
    found = [r for r, obj in readings if {"indexName": "ByRole", "indexStatus": index_status}
             in obj["status"].get("globalSecondaryIndexesDescriptions", [])]
    assert all(r.state == "Waiting" for r in found)
    return found


def test_a_class_change_waits_while_the_instance_modifies_and_is_ready_once_available(ack):
    cluster, controller = ack
    controller.slow["orders"] = 2.0
    obj = created(cluster, instance("orders"))
    changes = {CLASS: "db.r6g.xlarge"}
    readings = follow(cluster, obj, changes, patch(cluster, obj, changes))
    assert readings[-1][0].state == "Ready"
    modifying = [r for r, found in readings if found["status"]["dbInstanceStatus"] == "modifying"]
    assert modifying and all(r.state == "Waiting" for r in modifying)
    assert all(found["status"]["pendingModifiedValues"] == {"dbInstanceClass": "db.r6g.xlarge"}
               for _, found in readings if found["status"]["dbInstanceStatus"] == "modifying")
    assert "RDS DB instance orders: ACK.ResourceSynced is False" in {r.message for r in modifying}
    final = readings[-1][1]
    assert final["spec"]["dbInstanceClass"] == "db.r6g.xlarge" and final["status"]["dbInstanceStatus"] == "available"
    assert not any("observedGeneration" in c for c in final["status"]["conditions"])


def test_a_terminal_refusal_is_quoted_and_asking_back_is_synced_again(ack):
    cluster, controller = ack
    controller.refuse["billing"] = REFUSAL
    obj = created(cluster, instance("billing"))
    changes = {CLASS: "db.t4g.nano"}
    refused = follow(cluster, obj, changes, patch(cluster, obj, changes))[-1][0]
    assert refused == Readiness("Refused", f"RDS DB instance billing: ACK.Terminal: {REFUSAL}")
    time.sleep(1.05)  # the refusal was stamped this second: a restore is a later change
    back = {CLASS: "db.r6g.large"}
    restored = follow(cluster, obj, back, patch(cluster, read(cluster, obj), back))
    assert restored[-1][0].state == "Ready"
    assert not conditions.condition(restored[-1][1], "ACK.Terminal")


def test_a_recoverable_error_keeps_waiting_until_aws_takes_the_change(ack):
    cluster, controller = ack
    controller.recoverable["ledger"] = "InsufficientDBInstanceCapacity: not enough db.r6g.xlarge capacity"
    obj = created(cluster, instance("ledger"))
    changes = {CLASS: "db.r6g.xlarge"}
    since = patch(cluster, obj, changes)
    wait_until(lambda: "ACK.Recoverable: InsufficientDBInstanceCapacity" in
               caught_up(adapter(obj["apiVersion"], "DBInstance"), read(cluster, obj), changes, since).message,
               10, "the recoverable error read")
    del controller.recoverable["ledger"]
    assert follow(cluster, obj, changes, since)[-1][0].state == "Ready"


def test_a_gsi_removed_by_key_and_restored_comes_back_identical_once_in_aws_order(ack):
    cluster, controller = ack
    controller.slow["users"] = 1.0
    manifest = {"apiVersion": "dynamodb.services.k8s.aws/v1alpha1", "kind": "Table",
                "metadata": {"name": "users", "namespace": NAMESPACE},
                "spec": {"tableName": "users", "billingMode": "PAY_PER_REQUEST",
                         "attributeDefinitions": [{"attributeName": a, "attributeType": "S"}
                                                  for a in ("id", "role", "tenant", "plan")],
                         "keySchema": [{"attributeName": "id", "keyType": "HASH"}],
                         "globalSecondaryIndexes": [index("ByRole", "role"), index("ByTenant", "tenant"),
                                                    index("ByPlan", "plan")]}}
    obj = created(cluster, manifest)
    written_back = obj["spec"]["globalSecondaryIndexes"]
    assert [i["indexName"] for i in written_back] == ["ByPlan", "ByRole", "ByTenant"]  # AWS's order, filled
    role = keyed.get(obj, BY_ROLE)
    assert role != index("ByRole", "role") and "provisionedThroughput" in role

    removal = {BY_ROLE: ABSENT}
    assert keyed.patch_ops(obj, BY_ROLE, role, ABSENT)[-1] == {"op": "remove", "path": "/spec/globalSecondaryIndexes/1"}
    removed = follow(cluster, obj, removal, patch(cluster, obj, removal))
    assert removed[-1][0].state == "Ready" and during(removed, "DELETING")
    assert [i["indexName"] for i in removed[-1][1]["spec"]["globalSecondaryIndexes"]] == ["ByPlan", "ByTenant"]

    time.sleep(1.05)
    restore = {BY_ROLE: role}
    restored = follow(cluster, obj, restore, patch(cluster, read(cluster, obj), restore))
    assert restored[-1][0].state == "Ready" and during(restored, "CREATING")
    wait_until(lambda: read(cluster, obj)["spec"]["globalSecondaryIndexes"] == written_back, 10,
               "the GSIs written back in AWS's order")
    final = read(cluster, obj)
    assert keyed.get(final, BY_ROLE) == role
    assert [i["indexName"] for i in final["spec"]["globalSecondaryIndexes"]].count("ByRole") == 1


def test_a_read_only_object_appears_synced_while_aws_is_untouched(ack):
    cluster, controller = ack
    obj = created(cluster, instance("reports", {"services.k8s.aws/read-only": "true"}))
    changes = {CLASS: "db.r6g.xlarge"}
    assert follow(cluster, obj, changes, patch(cluster, obj, changes))[-1][0].state == "Ready"  # as ACK shows it
    assert controller.aws["DBInstance", NAMESPACE, "reports"]["dbInstanceClass"] == "db.r6g.large"
    assert "is read-only" in (untouchable(read(cluster, obj)) or "")


def test_an_auto_scaling_group_is_caught_up_on_the_reconcile_after_the_change_alone(ack):
    cluster, _ = ack
    manifest = {"apiVersion": "autoscaling.services.k8s.aws/v1alpha1", "kind": "AutoScalingGroup",
                "metadata": {"name": "web", "namespace": NAMESPACE},
                "spec": {"name": "web", "minSize": 1, "maxSize": 4,
                         "launchTemplate": {"launchTemplateName": "web", "version": "2"}}}
    obj = created(cluster, manifest)
    changes = {"/spec/minSize": 2, "/spec/launchTemplate/version": "3"}
    since = patch(cluster, obj, changes)
    assert caught_up(adapter(obj["apiVersion"], "AutoScalingGroup"), obj, changes, since).state == "Waiting"
    readings = follow(cluster, obj, changes, since)
    assert readings[-1][0].state == "Ready"  # its Synced is always True: only the stamp tells the reconcile ran
    stamp = conditions.stamped(conditions.condition(readings[-1][1], SYNCED))
    assert stamp is not None and stamp >= since

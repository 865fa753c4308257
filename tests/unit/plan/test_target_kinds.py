"""Every kind a plan may target, through the state machine: a plan's spec names the kind and keyed
paths into its spec; each phase is checked against the target as read and its CRD (the upstream
CRDs in ../shared/schemas) before anything is patched; plain provider-upjet-aws managed resources
are refused when a composite owns them or Crossplane may not update them."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from tap_optimizer.plan import machine
from tap_optimizer.plan.model import PlanRef, Readiness, Target
from tap_optimizer.plan.spec import parse, spec_errors
from tap_optimizer.platform.pointer import ABSENT
from tap_optimizer.targets import kinds
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
RDS_MR, TABLE_MR = "rds.aws.m.upbound.io/v1beta1", "dynamodb.aws.m.upbound.io/v1beta1"
ACK_RDS, ACK_TABLE = "rds.services.k8s.aws/v1alpha1", "dynamodb.services.k8s.aws/v1alpha1"


def crd(api_version: str, kind: str) -> dict:
    group = api_version.split("/", maxsplit=1)[0]
    folder = "ack" if group.endswith(".services.k8s.aws") else "provider-aws"
    return yaml.safe_load((SCHEMAS / folder / f"{group}_{kind.lower()}s.yaml").read_text())


def spec(api_version: str, kind: str, *changes: dict, **more) -> dict:
    return {**three_phase_spec(), "targetRef": {"apiVersion": api_version, "kind": kind, "name": "db"},
            "phases": [{"name": "one", "changes": list(changes)}], **more}


def cluster_instance(**meta) -> dict:
    return {"apiVersion": RDS_MR, "kind": "ClusterInstance",
            "metadata": {"name": "db", "namespace": "shop", "generation": 3, **meta},
            "spec": {"forProvider": {"region": "eu-west-1", "instanceClass": "db.r6g.xlarge",
                                     "engine": "aurora-postgresql", "applyImmediately": True}}}


def dry_run(body: dict, obj: dict) -> list[dict]:
    parsed = parse(body)
    kind = kinds.of(parsed.target_api_version, parsed.target_kind, crd(parsed.target_api_version, parsed.target_kind))
    assert kind is not None
    decision = machine.decide(PlanRef("shop", "p", 1), parsed, {}, Target(True, kind, obj), NOW)
    return decision.status["phases"]


@pytest.mark.parametrize(("body", "field", "message"), [
    (spec(RDS_MR, "ClusterInstance", {"op": "replace", "path": "/spec/forProvider/engine", "value": "mysql"}),
     "spec.phases[0].changes[0].path", "/spec/forProvider/engine is not a field a plan may change; allowed: "
                                       "/spec/forProvider/instanceClass"),
    (spec(RDS_MR, "ClusterInstance", {"op": "replace", "path": "/spec/providerConfigRef/name", "value": "x"}),
     "spec.phases[0].changes[0].path", "is not a field a plan may change"),
    (spec(TABLE_MR, "Table", {"op": "remove", "path": "/spec/forProvider/globalSecondaryIndex[indexName=ByRole]"}),
     "spec.phases[0].changes[0].path", "name one element of globalSecondaryIndex by name"),
    (spec(ACK_RDS, "DBInstance", {"op": "replace", "path": "/spec/engine", "value": "mysql"}),
     "spec.phases[0].changes[0].path", "/spec/engine is not a field a plan may change"),
    (spec(ACK_TABLE, "Table", {"op": "remove", "path": "/spec/globalSecondaryIndexes/0"}),
     "spec.phases[0].changes[0].path", "name one element of spec.globalSecondaryIndexes by indexName"),
    (spec("rds.services.k8s.aws/v1alpha1", "DBSnapshot", {"op": "replace", "path": "/spec/x", "value": 1}),
     "spec.targetRef.kind", "rds.services.k8s.aws/v1alpha1 DBSnapshot is not a kind a plan may target; supported:"),
    (spec(ACK_TABLE, "Table", {"op": "remove", "path": "/spec/globalSecondaryIndexes"},
          {"op": "remove", "path": "/spec/globalSecondaryIndexes[indexName=ByRole]"}),
     "spec.phases[0].changes[1].path", "lies inside /spec/globalSecondaryIndexes"),
], ids=["an upjet field outside the sizing fields", "an upjet field outside forProvider", "an upjet list by the "
        "wrong key", "an ACK field outside the sizing fields", "an ACK list element by position", "an unsupported kind",
        "a list and its element in one phase"])
def test_a_spec_for_another_kind_is_refused_naming_the_field(body, field, message):
    errors = spec_errors(body)
    assert any(e.path == field and message in e.message for e in errors), errors


def test_an_upjet_class_change_patches_only_the_field_with_a_test_of_the_value_read():
    body = spec(RDS_MR, "ClusterInstance", {"op": "replace", "path": "/spec/forProvider/instanceClass",
                                            "value": "db.r6g.large"}, dryRun=True)
    (phase,) = dry_run(body, cluster_instance())
    assert phase["state"] == "WouldPatch"
    assert phase["wouldPatch"] == [
        {"op": "test", "path": "/spec/forProvider/instanceClass", "value": "db.r6g.xlarge"},
        {"op": "replace", "path": "/spec/forProvider/instanceClass", "value": "db.r6g.large"}]


@pytest.mark.parametrize(("obj", "changes", "message"), [
    (cluster_instance(), [{"op": "replace", "path": "/spec/forProvider/instanceClass", "value": 7}],
     "spec.forProvider.instanceClass: 7 is not of type 'string'"),
    ({**cluster_instance(), "spec": {"forProvider": {"instanceClass": "db.r6g.xlarge", "applyImmediately": False}}},
     [{"op": "replace", "path": "/spec/forProvider/instanceClass", "value": "db.r6g.large"}],
     "only at the next maintenance window because applyImmediately is not true"),
], ids=["a value the CRD refuses", "a deferred class change"])
def test_an_upjet_phase_aws_or_the_crd_would_refuse_is_invalid_before_any_patch(obj, changes, message):
    (phase,) = dry_run(spec(RDS_MR, "ClusterInstance", *changes, dryRun=True), obj)
    assert phase["state"] == "Invalid" and message in phase["message"]


@pytest.mark.parametrize(("meta", "policies", "reason", "message"), [
    ({"labels": {"crossplane.io/composite": "tap-prod-x7k2"}}, None, "TargetUntouchable",
     "is composed by composite tap-prod-x7k2, which would overwrite a change"),
    ({"ownerReferences": [{"kind": "TapPlatform", "name": "tap-prod", "controller": True}]}, None,
     "TargetUntouchable", "is composed by TapPlatform tap-prod"),
    ({"annotations": {"crossplane.io/paused": "true"}}, None, "TargetUntouchable", "is paused"),
    ({}, ["Observe", "Create", "Delete"], "ObserveOnly", "without Update: Crossplane would not apply a change"),
], ids=["composed (label)", "composed (owner)", "paused", "no Update policy"])
def test_an_upjet_resource_crossplane_would_not_change_as_planned_blocks_the_plan(meta, policies, reason, message):
    obj = cluster_instance(**meta)
    if policies:
        obj["spec"]["managementPolicies"] = policies
    kind = kinds.of(RDS_MR, "ClusterInstance", crd(RDS_MR, "ClusterInstance"))
    assert kind is not None
    body = spec(RDS_MR, "ClusterInstance", {"op": "replace", "path": "/spec/forProvider/instanceClass",
                                            "value": "db.r6g.large"})
    target = Target(True, kind, obj, untouchable=kind.untouchable(obj))
    decision = machine.decide(PlanRef("shop", "p", 1), parse(body), {}, target, NOW)
    assert (decision.status["state"], decision.status["reason"]) == ("Blocked", reason)
    assert message in decision.status["message"] and decision.action is None


def test_an_upjet_index_removal_is_a_one_way_door_and_is_live_once_aws_no_longer_reports_it():
    kind = kinds.of(TABLE_MR, "Table", crd(TABLE_MR, "Table"))
    assert isinstance(kind, kinds.ManagedTargetKind)
    indexes = [{"name": "ByRole", "hashKey": "role", "projectionType": "ALL"},
               {"name": "ByTenant", "hashKey": "tenant", "projectionType": "ALL"}]
    table = {"apiVersion": TABLE_MR, "kind": "Table", "metadata": {"name": "users", "generation": 2},
             "spec": {"forProvider": {"region": "eu-west-1", "globalSecondaryIndex": indexes}}}
    path = "/spec/forProvider/globalSecondaryIndex[name=ByRole]"
    after = kind.put(table, path, ABSENT)
    assert kind.doors(table, after, {path: ABSENT}) == [
        f"DynamoDB table users: removing {path} drops the index; restoring it rebuilds it from the table"]
    conditions = [{"type": t, "status": "True", "reason": "", "observedGeneration": 2,
                   "lastTransitionTime": "2026-11-30T12:00:05Z"} for t in ("Synced", "Ready")]
    reporting = {**after, "status": {"conditions": conditions, "atProvider": {"globalSecondaryIndex": indexes}}}
    waiting = kind.caught_up(reporting, {path: ABSENT}, NOW, "tap-optimizer")
    assert waiting == Readiness("Waiting", f"DynamoDB table users: {path} is not yet gone in status.atProvider")
    gone = {**reporting, "status": {**reporting["status"], "atProvider": {"globalSecondaryIndex": indexes[1:]}}}
    assert kind.caught_up(gone, {path: ABSENT}, NOW, "tap-optimizer") == Readiness("Ready")


def test_an_ack_target_whose_crd_cannot_be_read_is_not_patched():
    kind = kinds.of(ACK_RDS, "DBInstance")  # no CRD: the operator could not read it
    body = spec(ACK_RDS, "DBInstance", {"op": "replace", "path": "/spec/dbInstanceClass", "value": "db.r6g.large"})
    obj = {"apiVersion": ACK_RDS, "kind": "DBInstance", "metadata": {"name": "db"},
           "spec": {"dbInstanceClass": "db.r6g.xlarge", "engine": "postgres"}}
    assert kind is not None
    decision = machine.decide(PlanRef("shop", "p", 1), parse(body), {"preflightAt": "x"}, Target(True, kind, obj), NOW)
    assert (decision.status["state"], decision.status["reason"]) == ("Failed", "InvalidChange")
    assert "CustomResourceDefinition of DBInstance cannot be read" in decision.status["message"]
    assert decision.action is None


def test_a_kind_outside_the_allow_list_blocks_a_plan_not_started_and_holds_one_under_way():
    kind = kinds.of(ACK_RDS, "DBInstance")
    assert kind is not None
    body = parse(spec(ACK_RDS, "DBInstance", {"op": "replace", "path": "/spec/dbInstanceClass", "value": "x"}))
    refused = Target(False, kind, not_allowed="DBInstance is not in targets.kinds")
    blocked = machine.decide(PlanRef("shop", "p", 1), body, {}, refused, NOW)
    assert (blocked.status["state"], blocked.status["reason"]) == ("Blocked", "KindNotAllowed")
    under_way = {"state": "RollingBack", "lock": {"target": "db", "holder": "shop/p"}, "phases": []}
    held = machine.decide(PlanRef("shop", "p", 1), body, under_way, refused, NOW)
    assert (held.status["state"], held.status["reason"]) == ("RollingBack", "KindNotAllowed")
    assert held.action is None and "holds" in held.status["message"]

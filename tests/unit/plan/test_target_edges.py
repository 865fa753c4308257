"""Targets beyond the TapPlatform, at their edges: inputs of the kinds of fault #16 names, found by trying
the product as a new user: each is refused before any patch, named a one-way door, or read right."""

from __future__ import annotations

from tap_optimizer.plan import machine
from tap_optimizer.plan.model import PlanRef, Target
from tap_optimizer.plan.spec import parse, spec_errors
from tap_optimizer.targets import kinds
from tests.unit.plan.test_target_kinds import ACK_TABLE, NOW, RDS_MR, TABLE_MR, cluster_instance, crd, dry_run, spec

ACK_ASG = "autoscaling.services.k8s.aws/v1alpha1"
AFTER = "2026-11-30T12:00:05Z"


def ack_table() -> dict:
    return {"apiVersion": ACK_TABLE, "kind": "Table", "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"tableName": "t", "billingMode": "PAY_PER_REQUEST",
                     "keySchema": [{"attributeName": "pk", "keyType": "HASH"}],
                     "attributeDefinitions": [{"attributeName": "pk", "attributeType": "S"},
                                              {"attributeName": "role", "attributeType": "S"}],
                     "streamSpecification": {"streamEnabled": True, "streamViewType": "NEW_AND_OLD_IMAGES"},
                     "globalSecondaryIndexes": [{"indexName": "ByRole",
                                                 "keySchema": [{"attributeName": "role", "keyType": "HASH"}],
                                                 "projection": {"projectionType": "ALL"}}]},
            "status": {"tableStatus": "ACTIVE"}}


def upjet_table() -> dict:
    gsi = [{"name": "ByRole", "hashKey": "role", "projectionType": "ALL"},
           {"name": "ByEmail", "hashKey": "email", "projectionType": "ALL"}]
    return {"apiVersion": TABLE_MR, "kind": "Table", "metadata": {"name": "db", "namespace": "shop", "generation": 2},
            "spec": {"forProvider": {"region": "eu-west-1", "billingMode": "PAY_PER_REQUEST", "hashKey": "pk",
                                     "streamEnabled": True, "streamViewType": "NEW_AND_OLD_IMAGES",
                                     "attribute": [{"name": "pk", "type": "S"}, {"name": "role", "type": "S"},
                                                   {"name": "email", "type": "S"}],
                                     "globalSecondaryIndex": gsi}}}


def ack_asg() -> dict:
    return {"apiVersion": ACK_ASG, "kind": "AutoScalingGroup", "metadata": {"name": "db", "namespace": "shop"},
            "spec": {"name": "g", "minSize": 1, "maxSize": 4,
                     "launchTemplate": {"launchTemplateName": "lt", "version": "3"}}}


def one_phase(api_version: str, kind: str, obj: dict, *changes: dict) -> dict:
    body = spec(api_version, kind, *changes, dryRun=True)
    errors = spec_errors(body)  # a refusal at spec level is as good as one in the dry run
    if errors:
        return {"state": "Invalid", "message": "; ".join(e.message for e in errors), "oneWayDoors": []}
    (phase,) = dry_run(body, obj)
    return phase


# -- one-way doors that slip through ------------------------------------------------------------------

def test_an_ack_stream_view_type_change_is_a_one_way_door_or_refused():
    """DynamoDB changes the view type of an enabled stream only by disabling it and enabling a new one
    (a new stream ARN, cases/11); ack.md 1.4 (community#2782): ACK cannot change it at all by an edit.
    Today: WouldPatch, no door."""
    phase = one_phase(ACK_TABLE, "Table", ack_table(),
                      {"op": "replace", "path": "/spec/streamSpecification/streamViewType", "value": "KEYS_ONLY"})
    assert phase["state"] == "Invalid" or phase["oneWayDoors"], phase


def test_an_upjet_stream_view_type_change_is_a_one_way_door():
    phase = one_phase(TABLE_MR, "Table", upjet_table(),
                      {"op": "replace", "path": "/spec/forProvider/streamViewType", "value": "KEYS_ONLY"})
    assert phase["state"] == "Invalid" or phase["oneWayDoors"], phase


def test_replacing_an_upjet_tables_whole_gsi_list_cannot_drop_an_index_unnoticed():
    """The list is keyed by name (`rules.keyed`), but a path naming the whole list passes
    `ManagedTargetKind.path_problems` (only keyed steps or deeper paths are checked) and
    `_managed_doors` looks only at removed elements: ByEmail is dropped with no door, no approval,
    and the replace is positional (the thing keyed paths exist to avoid). ACK refuses the same."""
    phase = one_phase(TABLE_MR, "Table", upjet_table(),
                      {"op": "replace", "path": "/spec/forProvider/globalSecondaryIndex",
                       "value": [{"name": "ByRole", "hashKey": "role", "projectionType": "ALL"}]})
    assert phase["state"] == "Invalid" or any("ByEmail" in d for d in phase["oneWayDoors"]), phase


def test_changing_the_key_field_of_an_ack_gsi_is_refused():
    """`/spec/globalSecondaryIndexes[indexName=ByRole]/indexName` renames the element the path names:
    AWS drops ByRole and builds another index (no door is reported), and after the patch the path
    names nothing, so the machine takes its own patch for someone else's (Conflict) and cannot restore."""
    phase = one_phase(ACK_TABLE, "Table", ack_table(),
                      {"op": "replace", "path": "/spec/globalSecondaryIndexes[indexName=ByRole]/indexName",
                       "value": "ByRole2"})
    assert phase["state"] == "Invalid" and "indexName" in phase["message"], phase


def test_changing_the_key_field_of_an_upjet_gsi_is_refused():
    phase = one_phase(TABLE_MR, "Table", upjet_table(),
                      {"op": "replace", "path": "/spec/forProvider/globalSecondaryIndex[name=ByRole]/name",
                       "value": "ByRole2"})
    assert phase["state"] == "Invalid" and "name" in phase["message"], phase


def test_removing_a_field_the_ack_crd_requires_is_refused_before_any_patch():
    """spec.maxSize is `required` in the AutoScalingGroup CRD: the API server answers 422, which
    `handlers` reads as a failed `test` ("TargetChanged ... looking again"), for ever.
    `_KeyedKind.crd_problems` skips every ABSENT value."""
    phase = one_phase(ACK_ASG, "AutoScalingGroup", ack_asg(), {"op": "remove", "path": "/spec/maxSize"})
    assert phase["state"] == "Invalid" and "maxSize" in phase["message"], phase


def test_removing_a_field_the_upjet_crd_requires_is_refused_before_any_patch():
    """The ClusterInstance CRD's rule on spec: "spec.forProvider.instanceClass is a required
    parameter" (x-kubernetes-validations); only the node at the path is validated."""
    phase = one_phase(RDS_MR, "ClusterInstance", cluster_instance(),
                      {"op": "remove", "path": "/spec/forProvider/instanceClass"})
    assert phase["state"] == "Invalid" and "instanceClass" in phase["message"], phase


# -- readiness -----------------------------------------------------------------------------------------

def test_an_ack_launch_template_version_change_is_not_ready_before_the_instances_run_it():
    """Issue #16 point 2: an instance-type change is live only when the group runs the new template
    version and its instance refresh has succeeded. ACK starts no refresh (ack.md 1.6 point 5) and
    `no_status` says nothing: Ready on the first reconcile, the window watches the old instances."""
    kind = kinds.of(ACK_ASG, "AutoScalingGroup", crd(ACK_ASG, "AutoScalingGroup"))
    phase = one_phase(ACK_ASG, "AutoScalingGroup", ack_asg(),
                      {"op": "replace", "path": "/spec/launchTemplate/version", "value": "4"})
    if phase["state"] == "Invalid":
        return  # refusing it up front is right too
    obj = ack_asg()
    obj["spec"]["launchTemplate"]["version"] = "4"
    obj["metadata"]["resourceVersion"] = "8"
    obj["status"] = {"conditions": [{"type": "ACK.ResourceSynced", "status": "True", "lastTransitionTime": AFTER}]}
    readiness = kind.caught_up(obj, {"/spec/launchTemplate/version": "4"}, NOW, "tap-optimizer", "7")
    assert readiness.state != "Ready", readiness


def test_an_upjet_gsi_is_ready_when_aws_reports_its_set_valued_fields_in_another_order():
    """nonKeyAttributes is a Terraform set (`x-kubernetes-list-type: set` in the CRD): atProvider
    reports it in the provider's order. `ManagedTargetKind._reported` compares lists by position,
    so the phase waits until applyTimeout and rolls back a change that was made."""
    kind = kinds.of(TABLE_MR, "Table", crd(TABLE_MR, "Table"))
    element = {"name": "ByTenant", "hashKey": "tenant", "projectionType": "INCLUDE",
               "nonKeyAttributes": ["role", "email"]}
    obj = upjet_table()
    obj["spec"]["forProvider"]["globalSecondaryIndex"].append(element)
    obj["metadata"]["generation"] = 3
    reported = {**element, "nonKeyAttributes": ["email", "role"], "readCapacity": 0, "writeCapacity": 0}
    obj["status"] = {"atProvider": {"globalSecondaryIndex": [*obj["spec"]["forProvider"]["globalSecondaryIndex"][:2],
                                                             reported]},
                     "conditions": [{"type": t, "status": "True", "observedGeneration": 3,
                                     "lastTransitionTime": AFTER} for t in ("Synced", "Ready")]}
    readiness = kind.caught_up(obj, {"/spec/forProvider/globalSecondaryIndex[name=ByTenant]": element}, NOW,
                               "tap-optimizer")
    assert readiness.state == "Ready", readiness


# -- applyImmediately ------------------------------------------------------------------------------------

def test_a_class_change_whose_phase_sets_apply_immediately_is_not_rolled_back_into_the_maintenance_window():
    """A phase that sets applyImmediately: true with the class passes `managed.phase_problems`; its
    rollback patches instanceClass back and applyImmediately: false in one patch, so AWS defers the
    restore to the maintenance window and the rollback ends RestoreNotReady (or restores nothing)."""
    before = cluster_instance()
    before["spec"]["forProvider"]["applyImmediately"] = False
    changes = ({"op": "replace", "path": "/spec/forProvider/applyImmediately", "value": True},
               {"op": "replace", "path": "/spec/forProvider/instanceClass", "value": "db.r6g.large"})
    phase = one_phase(RDS_MR, "ClusterInstance", before, *changes)
    if phase["state"] == "Invalid":
        return  # refusing (asking for applyImmediately in an earlier phase) is right too
    kind = kinds.of(RDS_MR, "ClusterInstance", crd(RDS_MR, "ClusterInstance"))
    body = spec(RDS_MR, "ClusterInstance", *changes)
    after = cluster_instance()
    after["spec"]["forProvider"].update(applyImmediately=True, instanceClass="db.r6g.large")
    status = {"state": "RollingBack", "currentPhase": 0, "rollbackReason": "GateFailed",
              "lock": {"target": "db", "kind": "ClusterInstance.rds.aws.m.upbound.io", "holder": "shop/p"},
              "phases": [{"name": "one", "state": "RollingBack", "changes": [
                  {"path": "/spec/forProvider/applyImmediately", "before": False, "after": True},
                  {"path": "/spec/forProvider/instanceClass", "before": "db.r6g.xlarge", "after": "db.r6g.large"}]}]}
    decision = machine.decide(PlanRef("shop", "p", 1), parse(body), status,
                              Target(True, kind, after, generation=4, lock_holder="shop/p"), NOW)
    assert decision.action is not None and decision.action.kind == "patch"
    ops = decision.action.ops
    restores_class = any(o.get("path") == "/spec/forProvider/instanceClass" and o["op"] == "replace" for o in ops)
    defers = any(o.get("path") == "/spec/forProvider/applyImmediately" and o.get("value") is False
                 and o["op"] == "replace" for o in ops)
    assert not (restores_class and defers), ops


def test_a_deferred_class_change_names_the_maintenance_window_aws_reports():
    """#16 point 2: refused "naming the maintenance window". The window is usually not set in
    forProvider but reported by AWS in atProvider; the message then names none."""
    obj = cluster_instance()
    obj["spec"]["forProvider"]["applyImmediately"] = False
    obj["status"] = {"atProvider": {"preferredMaintenanceWindow": "sun:03:00-sun:04:00",
                                    "instanceClass": "db.r6g.xlarge"}}
    phase = one_phase(RDS_MR, "ClusterInstance", obj,
                      {"op": "replace", "path": "/spec/forProvider/instanceClass", "value": "db.r6g.large"})
    assert phase["state"] == "Invalid" and "sun:03:00-sun:04:00" in phase["message"], phase


"""ACK objects as targets, read as ACK writes them (`../shared/reference/ack.md` 1.2-1.6): a change is
caught up only on evidence stamped after it, AWS's refusal is quoted, and a phase ACK or AWS would
not apply as asked is refused before any patch, naming the field. Objects are literal ACK objects;
the immutable fields come from the upstream CRDs in ../shared/schemas/ack."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
import yaml

from tap_optimizer.platform.pointer import ABSENT
from tap_optimizer.targets.ack import (
    KINDS,
    adapter,
    caught_up,
    change_problems,
    immutable_fields,
    one_way_doors,
    patched_at,
    untouchable,
)
from tests.support.crds import SCHEMAS as ALL_SCHEMAS

SCHEMAS = ALL_SCHEMAS / "ack"
PATCHED = dt.datetime(2026, 11, 29, 12, 0, 0, tzinfo=dt.UTC)
BEFORE, AFTER = "2026-11-29T11:59:58Z", "2026-11-29T12:00:04Z"
DB_INSTANCE, DB_CLUSTER = KINDS["rds.services.k8s.aws", "DBInstance"], KINDS["rds.services.k8s.aws", "DBCluster"]
GROUP = KINDS["elasticache.services.k8s.aws", "ReplicationGroup"]
TABLE = KINDS["dynamodb.services.k8s.aws", "Table"]
ASG = KINDS["autoscaling.services.k8s.aws", "AutoScalingGroup"]
CLASS = {"/spec/dbInstanceClass": "db.r6g.large"}
ROLE = {"indexName": "ByRole", "keySchema": [{"attributeName": "role", "keyType": "HASH"}],
        "projection": {"projectionType": "KEYS_ONLY"}}


def crd(kind) -> dict:
    return yaml.safe_load((SCHEMAS / f"{kind.group}_{kind.kind.lower()}s.yaml").read_text())


def cond(kind: str, status: str = "True", when: str = AFTER, message: str = "", reason: str = "") -> dict:
    return {"type": kind, "status": status, "lastTransitionTime": when, "message": message, "reason": reason}


def instance(*conditions: dict, status: str = "available", **more) -> dict:
    return {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance",
            "metadata": {"name": "orders", "namespace": "shop"},
            "spec": {"dbInstanceIdentifier": "orders", "engine": "postgres", "dbInstanceClass": "db.r6g.large",
                     "availabilityZone": "eu-west-1a"},
            "status": {"dbInstanceStatus": status, "conditions": list(conditions) or [cond("ACK.ResourceSynced")],
                       **more}}


def table(*indexes: dict, described: dict | None = None, table_status: str = "ACTIVE") -> dict:
    described = {i["indexName"]: "ACTIVE" for i in indexes} if described is None else described
    return {"apiVersion": "dynamodb.services.k8s.aws/v1alpha1", "kind": "Table", "metadata": {"name": "users"},
            "spec": {"tableName": "users", "globalSecondaryIndexes": copy.deepcopy(list(indexes))},
            "status": {"tableStatus": table_status, "conditions": [cond("ACK.ResourceSynced")],
                       "globalSecondaryIndexesDescriptions": [{"indexName": n, "indexStatus": s}
                                                              for n, s in described.items()]}}


# -- caught up -------------------------------------------------------------------------------------

def test_a_fresh_synced_available_instance_holding_the_value_is_ready():
    assert caught_up(DB_INSTANCE, instance(), CLASS, PATCHED).state == "Ready"


def test_a_terminal_instance_status_reported_with_synced_true_is_refused_quoting_aws():
    refused = instance(cond("ACK.Terminal", message="DB instance is in terminal status: incompatible-network"),
                       cond("ACK.ResourceSynced", "True"), status="incompatible-network")
    found = caught_up(DB_INSTANCE, refused, CLASS, PATCHED)
    assert found.state == "Refused"
    assert found.message == ("RDS DB instance orders: ACK.Terminal: DB instance is in terminal status: "
                             "incompatible-network")


def test_a_terminal_refusal_of_the_modify_is_quoted():
    message = ("InvalidParameterCombination: RDS does not support creating a DB instance with the following "
               "combination: DBInstanceClass=db.t4g.nano, Engine=postgres")
    found = caught_up(DB_INSTANCE, instance(cond("ACK.Terminal", message=message),
                                            cond("ACK.ResourceSynced", "False")), CLASS, PATCHED)
    assert found.state == "Refused" and message in found.message


def test_a_terminal_condition_stamped_before_the_change_is_not_its_refusal():
    stale = instance(cond("ACK.Terminal", when=BEFORE, message="old"), cond("ACK.ResourceSynced", when=BEFORE))
    found = caught_up(DB_INSTANCE, stale, CLASS, PATCHED)
    assert found.state == "Waiting" and "not reconciled since the change" in found.message


def test_a_synced_true_older_than_the_change_is_waiting():
    found = caught_up(DB_INSTANCE, instance(cond("ACK.ResourceSynced", "True", when=BEFORE)), CLASS, PATCHED)
    assert found.state == "Waiting"
    assert found.message == ("RDS DB instance orders: ACK has not reconciled since the change "
                             "(ACK.ResourceSynced not stamped after it)")


def test_a_synced_true_stamped_the_second_of_the_change_counts():
    exact = instance(cond("ACK.ResourceSynced", when="2026-11-29T12:00:00Z"))
    assert caught_up(DB_INSTANCE, exact, CLASS, PATCHED).state == "Ready"


def test_pending_modified_values_keep_it_waiting_even_when_synced():
    pending = instance(pendingModifiedValues={"dbInstanceClass": "db.r6g.large", "multiAZ": None})
    found = caught_up(DB_INSTANCE, pending, CLASS, PATCHED)
    assert found.state == "Waiting" and "pending modifications: dbInstanceClass=db.r6g.large" in found.message


def test_an_instance_still_modifying_is_waiting():
    found = caught_up(DB_INSTANCE, instance(cond("ACK.ResourceSynced", "False"), status="modifying"), CLASS, PATCHED)
    assert found.state == "Waiting" and "ACK.ResourceSynced is False" in found.message
    synced_but_modifying = instance(status="modifying")
    assert "status.dbInstanceStatus is modifying, not yet available" in \
        caught_up(DB_INSTANCE, synced_but_modifying, CLASS, PATCHED).message


@pytest.mark.parametrize("conditions, expected", [
    ([cond("ACK.Recoverable", message="InsufficientDBInstanceCapacity: none left"),
      cond("ACK.ResourceSynced", "Unknown")], "ACK.Recoverable: InsufficientDBInstanceCapacity: none left"),
    ([cond("ACK.ResourceSynced", "Unknown", message="requeue")], "ACK.ResourceSynced is Unknown: requeue"),
], ids=["recoverable", "unknown"])
def test_recoverable_and_unknown_are_waiting_saying_why(conditions, expected):
    found = caught_up(DB_INSTANCE, instance(*conditions), CLASS, PATCHED)
    assert found.state == "Waiting" and expected in found.message


def test_a_value_written_back_from_aws_that_is_not_ours_is_waiting_naming_the_path():
    found = caught_up(DB_INSTANCE, instance(), {"/spec/dbInstanceClass": "db.r6g.xlarge"}, PATCHED)
    assert found.state == "Waiting"
    assert "/spec/dbInstanceClass reads 'db.r6g.large' as ACK wrote it back from AWS, not yet 'db.r6g.xlarge'" \
        in found.message


def test_a_table_with_a_gsi_still_creating_is_waiting():
    creating = table(ROLE, described={"ByRole": "CREATING"})
    found = caught_up(TABLE, creating, {"/spec/globalSecondaryIndexes[indexName=ByRole]": ROLE}, PATCHED)
    assert found.state == "Waiting" and "GSI ByRole is CREATING, not yet ACTIVE" in found.message


def test_an_added_gsi_is_caught_up_with_the_fields_aws_added():
    filled = table({**ROLE, "provisionedThroughput": {"readCapacityUnits": 0, "writeCapacityUnits": 0}})
    assert caught_up(TABLE, filled, {"/spec/globalSecondaryIndexes[indexName=ByRole]": ROLE}, PATCHED).state == "Ready"


def test_a_removed_gsi_waits_until_aws_stops_describing_it():
    path = {"/spec/globalSecondaryIndexes[indexName=ByRole]": ABSENT}
    deleting = table(described={"ByRole": "DELETING"})
    found = caught_up(TABLE, deleting, path, PATCHED)
    assert found.state == "Waiting" and "GSI ByRole is still described by AWS" in found.message
    assert caught_up(TABLE, table(), path, PATCHED).state == "Ready"
    still_there = caught_up(TABLE, table(ROLE), path, PATCHED)
    assert still_there.state == "Waiting" and "not yet ABSENT" in still_there.message


def test_a_replication_group_waits_for_every_node_group():
    group = {"kind": "ReplicationGroup", "metadata": {"name": "cache"}, "spec": {"cacheNodeType": "cache.r7g.large"},
             "status": {"status": "available", "conditions": [cond("ACK.ResourceSynced")],
                        "nodeGroups": [{"nodeGroupID": "0001", "status": "available"},
                                       {"nodeGroupID": "0002", "status": "modifying"}]}}
    found = caught_up(GROUP, group, {"/spec/cacheNodeType": "cache.r7g.large"}, PATCHED)
    assert found.state == "Waiting" and "node group 0002 is modifying" in found.message
    group["status"]["nodeGroups"][1]["status"] = "available"
    assert caught_up(GROUP, group, {"/spec/cacheNodeType": "cache.r7g.large"}, PATCHED).state == "Ready"


# -- may a phase make these changes ----------------------------------------------------------------

@pytest.mark.parametrize("kind, path, expected", [
    (DB_INSTANCE, "/spec/availabilityZone", "spec.availabilityZone is immutable ('Value is immutable once set'"),
    (TABLE, "/spec/keySchema", "spec.keySchema is immutable"),
    (GROUP, "/spec/kmsKeyID", "spec.kmsKeyID is immutable"),
    (ASG, "/spec/name", "spec.name is immutable"),
], ids=["DBInstance availabilityZone", "Table keySchema", "ReplicationGroup kmsKeyID", "ASG name"])
def test_an_immutable_field_is_refused_naming_it(kind, path, expected):
    target = {"metadata": {"name": "x"}, "spec": {}}
    (problem,) = change_problems(kind, crd(kind), target, {path: "other"})
    assert expected in problem and "the API server refuses any change to it" in problem


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda k: k.kind)
def test_the_immutable_fields_are_those_sources_md_lists_for_the_crd(kind):
    sources = (SCHEMAS / "SOURCES.md").read_text()
    row = next(line for line in sources.splitlines() if line.startswith(f"| `{kind.group}_{kind.kind.lower()}s.yaml`"))
    listed = row.rstrip(" |").rsplit("|", 1)[1].strip()
    derived = ", ".join(f"`{'.'.join(p)}`" for p in immutable_fields(crd(kind))) or "-"
    assert derived == listed


@pytest.mark.parametrize("kind, target, changes, expected", [
    (ASG, {}, {"/spec/desiredCapacity": 4}, "spec.desiredCapacity is not changed by a plan: the group's desired "
                                             "capacity is its running instance count"),
    (DB_INSTANCE, {}, {"/spec/engineVersion": "16.4"}, "/spec/engineVersion is not a field a plan may change; "
                                                        "allowed: spec.dbInstanceClass, spec.backupRetentionPeriod"),
    (TABLE, {}, {"/spec/globalSecondaryIndexes": []}, "name one element of spec.globalSecondaryIndexes by "
                                                       "indexName, as spec.globalSecondaryIndexes[indexName="),
    (TABLE, {}, {"/spec/globalSecondaryIndexes/1": ABSENT}, "name one element of spec.globalSecondaryIndexes"),
    (TABLE, {}, {"/spec/tableReplicas[indexName=x]": ABSENT}, "name one element of spec.tableReplicas by regionName"),
    (TABLE, {}, {"/spec/streamSpecification[x=y]": 1}, "spec.streamSpecification is not a list whose elements"),
    (TABLE, {}, {"/spec/globalSecondaryIndexes[indexName": 1}, "is not a field name"),
], ids=["desiredCapacity", "not changeable", "whole keyed list", "by index", "wrong key", "key on a non-list",
        "malformed"])
def test_paths_a_plan_may_not_change_are_refused_saying_what_is_allowed(kind, target, changes, expected):
    (problem,) = change_problems(kind, crd(kind), target, changes)
    assert expected in problem


def test_node_type_with_shards_or_replicas_must_be_separate_phases():
    group = {"metadata": {"name": "cache"}, "spec": {"cacheNodeType": "cache.r7g.large", "replicasPerNodeGroup": 2}}
    (problem,) = change_problems(GROUP, crd(GROUP), group, {"/spec/cacheNodeType": "cache.r7g.xlarge",
                                                            "/spec/replicasPerNodeGroup": 1})
    assert problem.startswith("ElastiCache replication group cache: spec.cacheNodeType and "
                              "spec.replicasPerNodeGroup change together")
    unchanged = {"/spec/cacheNodeType": "cache.r7g.xlarge", "/spec/replicasPerNodeGroup": 2}
    assert change_problems(GROUP, crd(GROUP), group, unchanged) == []


def test_at_most_one_gsi_create_per_phase_and_removals_may_share_it():
    tenant, plan = {**ROLE, "indexName": "ByTenant"}, {**ROLE, "indexName": "ByPlan"}
    target = table(tenant, plan)
    two = {"/spec/globalSecondaryIndexes[indexName=ByRole]": ROLE,
           "/spec/globalSecondaryIndexes[indexName=ByOwner]": {**ROLE, "indexName": "ByOwner"}}
    (problem,) = change_problems(TABLE, crd(TABLE), target, two)
    assert "creates 2 GSIs" in problem and "create each in its own phase" in problem
    one_and_removals = {"/spec/globalSecondaryIndexes[indexName=ByRole]": ROLE,
                        "/spec/globalSecondaryIndexes[indexName=ByTenant]": ABSENT,
                        "/spec/globalSecondaryIndexes[indexName=ByPlan]": ABSENT}
    assert change_problems(TABLE, crd(TABLE), target, one_and_removals) == []


@pytest.mark.parametrize("kind, target, changes, expected", [
    (DB_INSTANCE, {"spec": {"dbClusterIdentifier": "orders"}}, {"/spec/backupRetentionPeriod": 7},
     "is managed by its DB cluster orders: change the DBCluster's spec.backupRetentionPeriod"),
    (DB_CLUSTER, {"spec": {"engine": "aurora-postgresql"}}, {"/spec/dbClusterInstanceClass": "db.r6g.large"},
     "applies to Multi-AZ DB clusters only, not to engine aurora-postgresql"),
    (GROUP, {"spec": {}, "status": {"globalReplicationGroupInfo": {"globalReplicationGroupID": "ldgnf-cache"}}},
     {"/spec/cacheNodeType": "cache.r7g.large"}, "member of global datastore ldgnf-cache"),
], ids=["Aurora instance retention", "Aurora cluster class", "global datastore node type"])
def test_the_kinds_own_refusals(kind, target, changes, expected):
    (problem,) = change_problems(kind, crd(kind), target, changes)
    assert expected in problem


def test_the_same_changes_on_a_target_they_suit_pass():
    assert change_problems(DB_INSTANCE, crd(DB_INSTANCE), instance(), {"/spec/backupRetentionPeriod": 7}) == []
    assert change_problems(DB_CLUSTER, crd(DB_CLUSTER), {"spec": {"engine": "postgres"}},
                           {"/spec/dbClusterInstanceClass": "db.m6gd.large"}) == []
    group = {"spec": {"minSize": 1, "maxSize": 4, "launchTemplate": {"launchTemplateName": "web", "version": "2"}}}
    assert change_problems(ASG, crd(ASG), group, {"/spec/minSize": 2, "/spec/maxSize": 6}) == []


def test_a_node_type_aws_does_not_list_as_allowed_is_refused_naming_those_it_does():
    group = {"metadata": {"name": "cache"}, "spec": {"cacheNodeType": "cache.r7g.large"},
             "status": {"allowedScaleUpModifications": ["cache.r7g.xlarge"],
                        "allowedScaleDownModifications": ["cache.r7g.medium"]}}
    (problem,) = change_problems(GROUP, crd(GROUP), group, {"/spec/cacheNodeType": "cache.t4g.micro"})
    assert problem == ("ElastiCache replication group cache: AWS allows spec.cacheNodeType to become one of "
                       "cache.r7g.medium, cache.r7g.xlarge now, not cache.t4g.micro")
    assert change_problems(GROUP, crd(GROUP), group, {"/spec/cacheNodeType": "cache.r7g.medium"}) == []


def test_a_path_the_target_cannot_take_is_refused_before_any_patch():
    asg = {"spec": {"minSize": 1, "maxSize": 2, "launchTemplate": {"launchTemplateName": "web", "version": "2"},
                    "mixedInstancesPolicy": {"launchTemplate": {"overrides": [{}]}}}}
    for path in ("/spec/launchTemplate/version", "/spec/mixedInstancesPolicy/launchTemplate/overrides/0"):
        (problem,) = change_problems(ASG, crd(ASG), asg, {path: "3"})
        assert "is not changed by a plan: the ACK controller starts no instance refresh" in problem
    (problem,) = change_problems(TABLE, crd(TABLE), table(), {"/spec/streamSpecification/streamEnabled": True})
    assert "no field 'streamSpecification' to go into" in problem


def test_one_way_doors_are_named():
    target = table(ROLE, {**ROLE, "indexName": "ByTenant"})
    target["spec"]["streamSpecification"] = {"streamEnabled": True, "streamViewType": "NEW_IMAGE"}
    doors = one_way_doors(TABLE, target, {"/spec/globalSecondaryIndexes[indexName=ByRole]": ABSENT,
                                          "/spec/streamSpecification/streamEnabled": False})
    assert doors == ["DynamoDB table users: removing /spec/globalSecondaryIndexes[indexName=ByRole] drops the "
                     "index; restoring it rebuilds it from the table",
                     "DynamoDB table users: disabling the stream ends it; re-enabling makes a new stream ARN"]
    assert one_way_doors(TABLE, target, {"/spec/streamSpecification/streamViewType": "KEYS_ONLY"}) == [
        "DynamoDB table users: changing the stream's view type replaces the stream (a new stream ARN its consumers "
        "must be pointed at)"]
    group = {"metadata": {"name": "cache"}, "spec": {"numNodeGroups": 3}}
    assert one_way_doors(GROUP, group, {"/spec/numNodeGroups": 2}) == [
        "ElastiCache replication group cache: removing shards (spec.numNodeGroups 3 -> 2) moves their slots to the "
        "others; adding shards back reshards again"]
    assert one_way_doors(GROUP, group, {"/spec/numNodeGroups": 4}) == []
    assert one_way_doors(DB_INSTANCE, instance(), {"/spec/dbInstanceClass": "db.r6g.xlarge"}) == []


# -- never touched ---------------------------------------------------------------------------------

def test_a_read_only_object_is_untouchable():
    obj = instance()
    obj["metadata"]["annotations"] = {"services.k8s.aws/read-only": "true"}
    assert untouchable(obj) == ('DBInstance orders is read-only (annotation services.k8s.aws/read-only: "true"): '
                                "ACK would report a change synced and leave AWS untouched")


def test_an_object_a_controller_owns_is_untouchable_and_others_are_not():
    obj = instance()
    obj["metadata"]["ownerReferences"] = [{"kind": "ConfigMap", "name": "notes"}]
    assert untouchable(obj) is None
    obj["metadata"]["ownerReferences"].append({"kind": "ResourceGraph", "name": "shop", "controller": True})
    assert untouchable(obj) == ("DBInstance orders is controlled by ResourceGraph shop, which would overwrite a "
                                "change: change that ResourceGraph instead")


def test_adapters_are_found_by_api_group_and_kind():
    assert adapter("dynamodb.services.k8s.aws/v1alpha1", "Table") is TABLE
    assert adapter("dynamodb.aws.m.upbound.io/v1beta1", "Table") is None


def test_the_change_is_dated_by_the_api_servers_record_of_our_write():
    obj = instance()
    obj["metadata"]["managedFields"] = [
        {"manager": "tap-optimizer", "operation": "Update", "time": "2026-11-29T12:00:00Z", "subresource": ""},
        {"manager": "tap-optimizer", "operation": "Update", "time": "2026-11-29T12:05:00Z", "subresource": "status"},
        {"manager": "ack-rds-controller", "operation": "Update", "time": "2026-11-29T12:09:00Z"}]
    assert patched_at(obj, "tap-optimizer") == PATCHED
    assert patched_at(obj, "kubectl") is None

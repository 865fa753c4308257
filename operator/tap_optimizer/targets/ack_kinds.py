"""The ACK kinds the optimizer may change, as data: for each (API group, kind), the spec fields a
plan may change, the keyed lists, what in status says AWS is done, and the kind's own refusals and
one-way doors. Facts: `../shared/reference/ack.md` (sections named on each function) and the CRDs in
`../shared/schemas/ack/`. The rules that apply to every kind are in `targets.ack`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.platform import keyed
from tap_optimizer.platform.pointer import ABSENT

ITEMS = "[]"  # a schema path's step into a list's items

Changes = Mapping[str, Any]
SchemaPath = tuple[str, ...]
StatusCheck = Callable[[dict[str, Any]], list[str]]
Rule = Callable[[str, dict[str, Any], Changes], list[str]]


def no_doors(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """Every change of the kind can be undone by restoring the previous values."""
    return []


@dataclass(frozen=True)
class AckKind:
    """What a plan may do to one ACK kind, and how to read it back.

    `changeable`: the spec fields a plan may change (with what lies inside them), from ack.md 1.2;
    `keyed`: list fields whose elements a path names by key (the key fields); `forbidden`: fields
    never changed, with why; `exclusive`: fields AWS changes in separate modifications (at most one
    per phase); `status`: what in the object still waits on AWS (empty when done); `rules`: the
    kind's own refusals, given the target and the phase's actual changes; `doors`: the one-way
    doors among those changes (their rollback re-creates, it does not restore)."""

    group: str
    kind: str
    what: str
    changeable: tuple[SchemaPath, ...]
    status: StatusCheck
    keyed: Mapping[SchemaPath, tuple[str, ...]] = field(default_factory=dict)
    forbidden: Mapping[SchemaPath, str] = field(default_factory=dict)
    exclusive: tuple[SchemaPath, ...] = ()
    rules: tuple[Rule, ...] = ()
    doors: Rule = no_doors


def dotted(path: SchemaPath) -> str:
    """`spec.globalSecondaryIndexes[].projection` for a schema path."""
    return ".".join(path).replace("." + ITEMS, ITEMS)


# -- what AWS reports back, per kind (ack.md 1.2 "applied signals", 1.3 per-kind Synced) ------------

def _status(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("status") or {}


def _is(obj: dict[str, Any], name: str, wanted: str) -> list[str]:
    found = _status(obj).get(name)
    return [] if found == wanted else [f"status.{name} is {found or 'not reported'}, not yet {wanted}"]


def _nothing_pending(obj: dict[str, Any]) -> list[str]:
    """AWS has no modification queued (`status.pendingModifiedValues` holds no value)."""
    pending = _leaves(_status(obj).get("pendingModifiedValues"))
    return [f"AWS still has pending modifications: {', '.join(pending)}"] if pending else []


def _leaves(value: Any, prefix: str = "") -> list[str]:
    if isinstance(value, dict):
        return [leaf for k, v in sorted(value.items()) for leaf in _leaves(v, f"{prefix}{k}.")]
    if value in (None, []):
        return []
    return [f"{prefix.rstrip('.')}={value}"] if prefix else [str(value)]


def db_instance_status(obj: dict[str, Any]) -> list[str]:
    """RDS DBInstance: `dbInstanceStatus` available and nothing pending (rds-controller#151 copies
    pending values into spec, so the spec alone does not tell; ack.md 1.4)."""
    return _is(obj, "dbInstanceStatus", "available") + _nothing_pending(obj)


def db_cluster_status(obj: dict[str, Any]) -> list[str]:
    """RDS DBCluster: `status` available and nothing pending (its Synced ignores pending values,
    `templates/hooks/db_cluster/sdk_read_many_post_set_output.go.tpl`)."""
    return _is(obj, "status", "available") + _nothing_pending(obj)


def replication_group_status(obj: dict[str, Any]) -> list[str]:
    """ElastiCache ReplicationGroup: the group and every node group available, nothing pending
    (elasticache-controller `pkg/resource/replication_group/hooks.go customSetOutput`)."""
    groups = [f"node group {g.get('nodeGroupID', '?')} is {g.get('status') or 'not reported'}"
              for g in _status(obj).get("nodeGroups") or [] if g.get("status") != "available"]
    return _is(obj, "status", "available") + groups + _nothing_pending(obj)


def table_status(obj: dict[str, Any]) -> list[str]:
    """DynamoDB Table: `tableStatus` ACTIVE, every GSI AWS describes ACTIVE, and AWS describes
    exactly the GSIs the spec names (a removed one gone, an added one there; dynamodb-controller
    `templates/hooks/table/sdk_read_one_post_set_output.go.tpl` requeues until they are)."""
    described = {d.get("indexName"): d for d in _status(obj).get("globalSecondaryIndexesDescriptions") or []}
    named = {g.get("indexName") for g in (obj.get("spec") or {}).get("globalSecondaryIndexes") or []}
    waiting = [f"GSI {name} is {d.get('indexStatus') or 'not reported'}, not yet ACTIVE"
               for name, d in sorted(described.items()) if d.get("indexStatus") != "ACTIVE"]
    waiting += [f"GSI {name} is not described by AWS yet" for name in sorted(named - set(described))]
    waiting += [f"GSI {name} is still described by AWS" for name in sorted(set(described) - named)]
    return _is(obj, "tableStatus", "ACTIVE") + waiting


def no_status(_: dict[str, Any]) -> list[str]:
    """AutoScalingGroup: the status says nothing about instances or refreshes, and its Synced is
    always True (autoscaling-controller `pkg/resource/auto_scaling_group/manager.go IsSynced`):
    only a fresh reconcile and the spec read back tell."""
    return []


# -- the kinds' own refusals (ack.md 1.2 and 1.4) ---------------------------------------------------

def schema_path(path: str) -> SchemaPath:
    """The schema path a keyed pointer names: each keyed step goes into the list's items."""
    return tuple(part for step in keyed.steps(path) for part in ((step.name, ITEMS) if step.keys else (step.name,)))


def _changes_any(changes: Changes, *fields: str) -> list[str]:
    return [p for p in changes if schema_path(p)[:2] in {("spec", f) for f in fields}]


def aurora_instance_retention(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """An Aurora DBInstance's backup retention belongs to its cluster (the CRD: "doesn't apply to
    Amazon Aurora DB instances"; rds-controller `pkg/resource/db_instance/hooks.go customPreCompare`
    skips it when dbClusterIdentifier is set)."""
    cluster = (target.get("spec") or {}).get("dbClusterIdentifier")
    if not cluster or not _changes_any(changes, "backupRetentionPeriod"):
        return []
    return [f"{what}: spec.backupRetentionPeriod of an Aurora DB instance is managed by its DB cluster "
            f"{cluster}: change the DBCluster's spec.backupRetentionPeriod instead"]


def multi_az_cluster_class(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """`dbClusterInstanceClass` is for Multi-AZ DB clusters only; Aurora classes are on each
    DBInstance (ack.md 1.2, DBCluster row)."""
    engine = str((target.get("spec") or {}).get("engine", ""))
    if not engine.startswith("aurora") or not _changes_any(changes, "dbClusterInstanceClass"):
        return []
    return [f"{what}: spec.dbClusterInstanceClass applies to Multi-AZ DB clusters only, not to engine {engine}: "
            "change spec.dbInstanceClass of each of the cluster's DBInstance objects instead"]


def global_datastore_member(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """A member of a global datastore refuses node-type changes: they go through the global group
    (ack.md 1.4, CFN #1965, terraform#22528)."""
    info = _status(target).get("globalReplicationGroupInfo") or {}
    if not info.get("globalReplicationGroupID") or not _changes_any(changes, "cacheNodeType"):
        return []
    return [f"{what} is a member of global datastore {info['globalReplicationGroupID']}: AWS changes its node "
            "type only through the global replication group"]


def allowed_node_type(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """A node type AWS lists neither as a scale-up nor as a scale-down of this group
    (`status.allowedScaleUpModifications` / `allowedScaleDownModifications`, from
    ListAllowedNodeTypeModifications) would be refused: say so before patching (ack.md 1.6 point 6).
    Without the lists, nothing is known: AWS decides."""
    wanted = changes.get("/spec/cacheNodeType")
    allowed = [*(_status(target).get("allowedScaleUpModifications") or []),
               *(_status(target).get("allowedScaleDownModifications") or [])]
    if wanted is None or not allowed or wanted in allowed:
        return []
    return [f"{what}: AWS allows spec.cacheNodeType to become one of {', '.join(sorted(allowed))} now, "
            f"not {wanted}"]


def one_index_created(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """DynamoDB creates one GSI at a time ("Only 1 online index can be created or deleted
    simultaneously per table"; dynamodb-controller `customUpdateTable` adds one per update): at most
    one GSI create per phase. Several removals may share a phase (readiness waits for all)."""
    created = [p for p, v in changes.items() if schema_path(p) == ("spec", "globalSecondaryIndexes", ITEMS)
               and v is not ABSENT and keyed.get(target, p) is ABSENT]
    if len(created) < 2:
        return []
    return [f"{what}: this phase creates {len(created)} GSIs ({', '.join(created)}); DynamoDB builds one at a "
            "time: create each in its own phase"]


def table_doors(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """A DynamoDB table's one-way doors (ack.md 1.6 point 7, DESIGN.md): a GSI removed (re-adding
    rebuilds it, for hours on a large table), a replica region removed (re-adding re-replicates),
    the stream disabled (re-enabling makes a new stream ARN that consumers must be pointed at)."""
    doors = []
    for path in sorted(p for p, v in changes.items() if v is ABSENT):
        if schema_path(path) == ("spec", "globalSecondaryIndexes", ITEMS):
            doors.append(f"{what}: removing {path} drops the index; restoring it rebuilds it from the table")
        elif schema_path(path) == ("spec", "tableReplicas", ITEMS):
            doors.append(f"{what}: removing {path} deletes that replica; restoring it copies the table again")
    stream, view = "/spec/streamSpecification/streamEnabled", "/spec/streamSpecification/streamViewType"
    after = _changed(target, changes)
    if keyed.get(target, stream) is True and keyed.get(after, stream) is not True:
        doors.append(f"{what}: disabling the stream ends it; re-enabling makes a new stream ARN")
    elif keyed.get(target, stream) is True and keyed.get(target, view) != keyed.get(after, view):
        doors.append(f"{what}: changing the stream's view type replaces the stream (a new stream ARN its consumers "
                     "must be pointed at)")
    return doors


def shard_doors(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """An ElastiCache group's one-way door (ack.md 1.6 point 7): fewer shards reshard the data;
    adding them back reshards it again, it does not restore the old slots."""
    shards = "/spec/numNodeGroups"
    before, after = keyed.get(target, shards), keyed.get(_changed(target, changes), shards)
    removed = [p for p, v in changes.items()
               if v is ABSENT and schema_path(p)[:2] == ("spec", "nodeGroupConfiguration")]
    if not removed and not (isinstance(before, int) and isinstance(after, int) and after < before):
        return []
    return [f"{what}: removing shards ({'; '.join(removed) or f'spec.numNodeGroups {before} -> {after}'}) moves "
            "their slots to the others; adding shards back reshards again"]


def _changed(target: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """The target as the changes leave it (each one a change of something, see `_actual`)."""
    for path, value in changes.items():
        target = keyed.put(target, path, value)
    return target


def _spec(*names: str) -> tuple[SchemaPath, ...]:
    return tuple(("spec", name) for name in names)


NO_REFRESH = ("the ACK controller starts no instance refresh (ack.md 1.6 point 5): the running instances would "
              "keep the old template while the window watched them; roll the group another way, or declare it "
              "where a refresh follows (a TapPlatform)")
RDS, ELASTICACHE = "rds.services.k8s.aws", "elasticache.services.k8s.aws"
DYNAMODB, AUTOSCALING = "dynamodb.services.k8s.aws", "autoscaling.services.k8s.aws"
KINDS: dict[tuple[str, str], AckKind] = {(k.group, k.kind): k for k in (
    AckKind(RDS, "DBInstance", "RDS DB instance", _spec("dbInstanceClass", "backupRetentionPeriod"),
            db_instance_status, rules=(aurora_instance_retention,)),
    AckKind(RDS, "DBCluster", "RDS DB cluster",
            _spec("backupRetentionPeriod", "dbClusterInstanceClass", "serverlessV2ScalingConfiguration"),
            db_cluster_status, rules=(multi_az_cluster_class,)),
    AckKind(ELASTICACHE, "ReplicationGroup", "ElastiCache replication group",
            _spec("cacheNodeType", "numNodeGroups", "replicasPerNodeGroup", "nodeGroupConfiguration",
                  "snapshotRetentionLimit"),
            replication_group_status, keyed={("spec", "nodeGroupConfiguration"): ("nodeGroupID",)},
            exclusive=_spec("cacheNodeType", "numNodeGroups", "replicasPerNodeGroup", "nodeGroupConfiguration"),
            rules=(global_datastore_member, allowed_node_type), doors=shard_doors),
    AckKind(DYNAMODB, "Table", "DynamoDB table",
            _spec("globalSecondaryIndexes", "streamSpecification", "billingMode", "provisionedThroughput",
                  "onDemandThroughput", "tableClass", "tableReplicas"),
            table_status, keyed={("spec", "globalSecondaryIndexes"): ("indexName",),
                                 ("spec", "tableReplicas"): ("regionName",)},
            rules=(one_index_created,), doors=table_doors),
    AckKind(AUTOSCALING, "AutoScalingGroup", "Auto Scaling group", _spec("minSize", "maxSize"), no_status,
            forbidden={("spec", "desiredCapacity"): "the group's desired capacity is its running instance count, "
                                                    "which its scaling policies move; size the group through "
                                                    "spec.minSize and spec.maxSize (ack.md 1.2, AutoScalingGroup "
                                                    "row)",
                       **{("spec", name): NO_REFRESH for name in ("launchTemplate", "mixedInstancesPolicy")}}),
)}

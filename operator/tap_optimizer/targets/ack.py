"""ACK (AWS Controllers for Kubernetes) objects as targets: which spec paths a plan may change,
which changes must be separate phases, when an object must not be touched at all, and when it has
caught up with a change. Facts: `../shared/reference/ack.md` (sections named below) and the CRDs in
`../shared/schemas/ack/` (their SOURCES.md names the upstream commits).

A phase's changes are a mapping from a keyed pointer (`tap_optimizer.platform.keyed`: list
elements by key, `/spec/globalSecondaryIndexes[indexName=ByRole]`) to the value it sets, ABSENT to
remove. Adapters are looked up by (API group, kind) in `KINDS`.

Caught up (`caught_up`), in this order (ack.md 1.3, 1.6 points 1 and 2):
- ACK conditions carry no observedGeneration, and every reconcile rewrites them all stamping
  lastTransitionTime now: a condition counts only if stamped at or after the change;
- a current `ACK.Terminal=True` is AWS refusing the change: Refused, quoting AWS. It is read before
  `ACK.ResourceSynced`, which a DBInstance in a terminal status reports True;
- no current `ACK.ResourceSynced` (no reconcile since the change), `ACK.Recoverable=True` (ACK
  retries: throttling, capacity), `ACK.ResourceSynced` False or Unknown: Waiting;
- the kind's status must say AWS is done (`available`, `ACTIVE`, nothing pending);
- every changed path must still hold our value after ACK wrote the spec back from AWS (AWS may add
  fields to what we set, as it does to a GSI; it must not change or drop ours).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.plan.model import Readiness
from tap_optimizer.platform import keyed
from tap_optimizer.platform.pointer import ABSENT, PointerError
from tap_optimizer.targets import conditions

READ_ONLY = "services.k8s.aws/read-only"
TERMINAL, RECOVERABLE, SYNCED = "ACK.Terminal", "ACK.Recoverable", "ACK.ResourceSynced"
IMMUTABLE_RULE = "self == oldSelf"
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

def _changes_any(changes: Changes, *fields: str) -> list[str]:
    return [p for p in changes if _schema_path(p)[:2] in {("spec", f) for f in fields}]


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
    created = [p for p, v in changes.items() if _schema_path(p) == ("spec", "globalSecondaryIndexes", ITEMS)
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
        if _schema_path(path) == ("spec", "globalSecondaryIndexes", ITEMS):
            doors.append(f"{what}: removing {path} drops the index; restoring it rebuilds it from the table")
        elif _schema_path(path) == ("spec", "tableReplicas", ITEMS):
            doors.append(f"{what}: removing {path} deletes that replica; restoring it copies the table again")
    stream = "/spec/streamSpecification/streamEnabled"
    if keyed.get(target, stream) is True and keyed.get(_changed(target, changes), stream) is not True:
        doors.append(f"{what}: disabling the stream ends it; re-enabling makes a new stream ARN")
    return doors


def shard_doors(what: str, target: dict[str, Any], changes: Changes) -> list[str]:
    """An ElastiCache group's one-way door (ack.md 1.6 point 7): fewer shards reshard the data;
    adding them back reshards it again, it does not restore the old slots."""
    shards = "/spec/numNodeGroups"
    before, after = keyed.get(target, shards), keyed.get(_changed(target, changes), shards)
    removed = [p for p, v in changes.items()
               if v is ABSENT and _schema_path(p)[:2] == ("spec", "nodeGroupConfiguration")]
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
    AckKind(AUTOSCALING, "AutoScalingGroup", "Auto Scaling group",
            _spec("minSize", "maxSize", "launchTemplate", "mixedInstancesPolicy"), no_status,
            forbidden={("spec", "desiredCapacity"): "the group's desired capacity is its running instance count, "
                                                    "which its scaling policies move; size the group through "
                                                    "spec.minSize and spec.maxSize (ack.md 1.2, AutoScalingGroup "
                                                    "row)"}),
)}


def adapter(api_version: str, kind: str) -> AckKind | None:
    """The adapter for an object's apiVersion (`rds.services.k8s.aws/v1alpha1`) and kind, or None."""
    return KINDS.get((api_version.partition("/")[0], kind))


# -- immutable fields, from the target's own CRD (ack.md 1.6 point 4) ---------------------------------

def immutable_fields(crd: dict[str, Any]) -> dict[SchemaPath, str]:
    """Every schema node of the CRD's storage version whose `x-kubernetes-validations` hold
    `self == oldSelf`, with the rule's message: the API server refuses any change to it (422)."""
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    return dict(_immutable(version["schema"]["openAPIV3Schema"], ()))


def _immutable(node: Any, path: SchemaPath) -> Iterator[tuple[SchemaPath, str]]:
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations") or []:
        if IMMUTABLE_RULE in rule.get("rule", ""):
            yield path, rule.get("message", "Value is immutable once set")
    for name, child in (node.get("properties") or {}).items():
        yield from _immutable(child, (*path, name))
    yield from _immutable(node.get("items"), (*path, ITEMS))


# -- may a phase make these changes? ------------------------------------------------------------------

def _schema_path(path: str) -> SchemaPath:
    """The schema path a keyed pointer names: each keyed step goes into the list's items."""
    return tuple(part for step in keyed.steps(path) for part in ((step.name, ITEMS) if step.keys else (step.name,)))


def change_problems(adapter: AckKind, crd: dict[str, Any], target: dict[str, Any], changes: Changes) -> list[str]:
    """Why this phase must not patch `target` (an object of `adapter`'s kind, as just read, with its
    CRD): one sentence each, naming the field and what is allowed; [] when it may. Checked before
    any patch: a 422 for an immutable field would otherwise read as "look again" (ack.md 1.6 point 4)."""
    what = f"{adapter.what} {(target.get('metadata') or {}).get('name', '')}".rstrip()
    problems: list[str] = []
    immutable = immutable_fields(crd)
    for path, value in changes.items():
        problems += _path_problems(adapter, immutable, what, path) or _unwritable(target, what, path, value)
    if problems:
        return problems
    actual = _actual(target, changes)
    exclusive = [dotted(f) for f in adapter.exclusive if any(_schema_path(p)[:len(f)] == f for p in actual)]
    if len(exclusive) > 1:
        problems.append(f"{what}: {' and '.join(exclusive)} change together, but AWS applies them as separate "
                        "modifications, one kind per reconcile: change each in its own phase")
    return problems + [p for rule in adapter.rules for p in rule(what, target, actual)]


def _path_problems(adapter: AckKind, immutable: dict[SchemaPath, str], what: str, path: str) -> list[str]:
    try:
        steps = keyed.steps(path)
    except PointerError as error:
        return [f"{what}: {error}"]
    schema = _schema_path(path)
    for fixed, message in immutable.items():
        if _overlap(schema, fixed):
            return [f"{what}: {dotted(fixed)} is immutable ({message!r}: the CRD's rule {IMMUTABLE_RULE}); the "
                    "API server refuses any change to it"]
    for never, why in adapter.forbidden.items():
        if _overlap(schema, never):
            return [f"{what}: {dotted(never)} is not changed by a plan: {why}"]
    if not any(schema[:len(f)] == f for f in adapter.changeable):
        return [f"{what}: {path} is not a field a plan may change; allowed: "
                + ", ".join(dotted(f) for f in adapter.changeable)]
    return _key_problems(adapter, what, path, steps)


def _unwritable(target: dict[str, Any], what: str, path: str, value: Any) -> list[str]:
    """A change the target as read cannot take: a list entered by position, no parent to set it in."""
    try:
        if keyed.get(target, path) != value:
            keyed.put(target, path, value)
    except PointerError as error:
        return [f"{what}: {error}"]
    return []


def _actual(target: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """The changes that change something in the target as read."""
    return {p: v for p, v in changes.items() if keyed.get(target, p) != v}


def one_way_doors(adapter: AckKind, target: dict[str, Any], changes: Changes) -> list[str]:
    """The one-way doors among the phase's changes of `target` (valid changes, see
    `change_problems`): one sentence each; a plan marks them irreversible and asks approval."""
    what = f"{adapter.what} {(target.get('metadata') or {}).get('name', '')}".rstrip()
    return adapter.doors(what, target, _actual(target, changes))


def _key_problems(adapter: AckKind, what: str, path: str, steps: tuple[keyed.Step, ...]) -> list[str]:
    """Elements of a keyed list are named by their declared key, and only there."""
    walked: SchemaPath = ()
    for step in steps:
        walked = (*walked, step.name)
        keys = adapter.keyed.get(walked)
        if keys is None and step.keys:
            return [f"{what}: {path}: {dotted(walked)} is not a list whose elements a plan names by key"]
        if keys is not None and tuple(k for k, _ in step.keys) != keys:
            example = ",".join(f"{k}=<{k}>" for k in keys)
            return [f"{what}: {path}: name one element of {dotted(walked)} by {', '.join(keys)}, as "
                    f"{dotted(walked)}[{example}]: ACK rewrites the list in AWS's order"]
        if step.keys:
            walked = (*walked, ITEMS)
    return []


def _overlap(a: SchemaPath, b: SchemaPath) -> bool:
    """One path lies inside the other (or they are the same)."""
    return a[:len(b)] == b or b[:len(a)] == a


# -- must not be touched at all (ack.md 1.3 read-only, 1.5 owned objects) ---------------------------

def untouchable(target: dict[str, Any]) -> str | None:
    """Why no plan may patch this object, or None: a read-only object appears synced while AWS is
    untouched (runtime `reconciler.go Sync`); one a controller owns (kro, Helm operators, a
    composite) is overwritten by its owner at its next reconcile."""
    meta = target.get("metadata") or {}
    name = f"{target.get('kind', 'object')} {meta.get('name', '')}".rstrip()
    if (meta.get("annotations") or {}).get(READ_ONLY) == "true":
        return (f"{name} is read-only (annotation {READ_ONLY}: \"true\"): ACK would report a change synced and "
                "leave AWS untouched")
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        return (f"{name} is controlled by {owner.get('kind')} {owner.get('name')}, which would overwrite a change: "
                f"change that {owner.get('kind')} instead")
    return None


# -- caught up with a change ---------------------------------------------------------------------------

def caught_up(adapter: AckKind, obj: dict[str, Any], changes: Changes, since: dt.datetime) -> Readiness:
    """Whether `obj` has caught up with `changes` made at `since` (the API server's time of our
    patch, as it stamps it: seconds); see the module docstring for the order of the checks."""
    what = f"{adapter.what} {(obj.get('metadata') or {}).get('name', '')}".rstrip()
    terminal = conditions.current(obj, TERMINAL, since)
    if terminal.get("status") == "True":
        return Readiness("Refused", f"{what}: ACK.Terminal: {terminal.get('message') or terminal.get('reason', '')}")
    synced = conditions.current(obj, SYNCED, since)
    if not synced:
        return Readiness("Waiting", f"{what}: ACK has not reconciled since the change ({SYNCED} not stamped after it)")
    recoverable = conditions.current(obj, RECOVERABLE, since)
    if recoverable.get("status") == "True":
        return Readiness("Waiting", f"{what}: ACK.Recoverable: {recoverable.get('message', '')} (ACK retries)")
    if synced.get("status") != "True":
        return Readiness("Waiting", f"{what}: {SYNCED} is {synced.get('status')}: {synced.get('message', '')}"
                         .rstrip(": "))
    waiting = adapter.status(obj) + _not_held(obj, changes)
    return Readiness("Waiting", f"{what}: {'; '.join(waiting)}") if waiting else Readiness("Ready")


def _not_held(obj: dict[str, Any], changes: Changes) -> list[str]:
    """The changed paths whose value ACK's write-back from AWS does not hold."""
    found = []
    for path, value in sorted(changes.items()):
        current = keyed.get(obj, path)
        if (value is ABSENT) != (current is ABSENT) or (value is not ABSENT and not holds(current, value)):
            found.append(f"{path} reads {current!r} as ACK wrote it back from AWS, not yet {value!r}")
    return found


def holds(current: Any, wanted: Any) -> bool:
    """`current` holds everything of `wanted`: every field we set with the value we set, at any
    depth; AWS may have added fields (a GSI's provisioned throughput, defaults)."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(k in current and holds(current[k], v) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(current, list) and len(current) == len(wanted) and all(
            holds(c, w) for c, w in zip(current, wanted, strict=True))
    return bool(current == wanted)

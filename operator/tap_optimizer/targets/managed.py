"""provider-upjet-aws managed resources: when one has caught up with a change, and which changes
AWS will not make the way a phase needs them.

Caught up means, in this order (`../shared/reference/ack.md` 1.5, crossplane/upjet#638, #594):
- a current `Synced=False` is the provider refusing the change: Refused, quoting it;
- a `LastAsyncOperation=False` stamped after the change is the asynchronous apply failing while
  Synced and Ready stay True: Refused, quoting Terraform's error;
- an `AsyncOperation` still `Ongoing` is an update in flight: Waiting;
- `Synced` and `Ready` must be current and True;
- every field the change set that AWS reports back in `status.atProvider` must read the new value
  (the provider copies AWS's state there after each observe): until it does, the change has not
  happened, whatever the conditions say.

Rules per kind (`RULES`, keyed `<service>/<Kind>` as the composition names kinds):
- `deferred`: fields AWS applies only at the next maintenance window unless the request says
  ApplyImmediately (RDS ModifyDBInstance/ModifyDBCluster, ElastiCache ModifyReplicationGroup);
- `separate`: groups of fields AWS changes in separate modifications: one phase may change
  fields of one group only (ElastiCache: the node type apart from the shard and replica counts;
  Terraform applies shards and replicas one after the other in one update, but provider-upjet-aws
  elasticache v2.7.0 fails a node type change right after a replica change,
  terraform-provider-aws#50096).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.plan.model import Readiness
from tap_optimizer.targets import conditions


@dataclass(frozen=True)
class KindRules:
    """`changeable`: the forProvider fields a plan may change when the managed resource itself is
    its target (`targets.kinds`), none for kinds only composed; `keyed`: list fields among them
    whose elements a path names by key (upjet declares no list-map keys: the field AWS keys them
    by)."""

    what: str
    deferred: tuple[str, ...] = ()
    separate: tuple[tuple[str, ...], ...] = ()
    changeable: tuple[str, ...] = ()
    keyed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


RULES: dict[str, KindRules] = {
    "rds/ClusterInstance": KindRules("Aurora DB instance", deferred=("instanceClass", "engineVersion"),
                                     changeable=("instanceClass", "applyImmediately", "promotionTier")),
    "rds/Cluster": KindRules("Aurora cluster", deferred=("dbClusterInstanceClass", "engineVersion"),
                             changeable=("backupRetentionPeriod", "dbClusterInstanceClass",
                                         "serverlessv2ScalingConfiguration", "applyImmediately")),
    "elasticache/ReplicationGroup": KindRules("ElastiCache replication group",
                                              deferred=("nodeType", "engineVersion"),
                                              separate=(("nodeType",), ("numNodeGroups", "replicasPerNodeGroup")),
                                              changeable=("nodeType", "numNodeGroups", "replicasPerNodeGroup",
                                                          "applyImmediately", "snapshotRetentionLimit")),
    "dynamodb/Table": KindRules("DynamoDB table",
                                changeable=("globalSecondaryIndex", "streamEnabled", "streamViewType", "billingMode",
                                            "readCapacity", "writeCapacity", "tableClass", "replica"),
                                keyed={"globalSecondaryIndex": ("name",), "replica": ("regionName",)}),
    # desiredCapacity is not changed by a plan: the group's scaling policies own it
    "autoscaling/AutoscalingGroup": KindRules("Auto Scaling group", changeable=("minSize", "maxSize")),
}
REFERENCE_SUFFIXES = ("Ref", "Refs", "Selector")

Leaves = dict[tuple[str, ...], Any]


def kind_key(obj: dict[str, Any]) -> str:
    """`rds/ClusterInstance` for `rds.aws.m.upbound.io/v1beta1` `ClusterInstance`."""
    return f"{obj.get('apiVersion', '').split('.')[0]}/{obj.get('kind', '')}"


def for_provider(obj: dict[str, Any]) -> dict[str, Any]:
    return (obj.get("spec") or {}).get("forProvider") or {}


def phase_problems(name: str, key: str, old: dict[str, Any], new: dict[str, Any],
                   window: str | None = None) -> list[str]:
    """Why the change of one managed resource's forProvider from `old` to `new` cannot be one
    phase: a deferred field changed while applyImmediately is not true (naming the maintenance
    window: the resource's own, else `window`), or turns true only in this phase (its rollback
    would put it back false with the old value, a restore AWS defers), or fields of more than one
    `separate` group changed. One sentence each, naming the fields; [] when it can."""
    rules = RULES.get(key)
    if rules is None:
        return []
    problems = []
    deferred = [f for f in rules.deferred if old.get(f) != new.get(f)]
    if deferred and new.get("applyImmediately") is not True:
        problems.append(f"{rules.what} {name}: AWS would change {', '.join(deferred)} only at the next "
                        f"{_window(new, window)} because applyImmediately is not true, so the observation window "
                        "would watch nothing")
    elif deferred and old.get("applyImmediately") is not True:
        problems.append(f"{rules.what} {name}: applyImmediately turns true in the same phase as {', '.join(deferred)}; "
                        "a rollback would restore both together and AWS would defer that restore to the next "
                        f"{_window(new, window)}: set applyImmediately true in an earlier phase")
    groups = [[f for f in group if old.get(f) != new.get(f)] for group in rules.separate]
    changed = [fields for fields in groups if fields]
    if len(changed) > 1:
        named = " and ".join(", ".join(fields) for fields in changed)
        problems.append(f"{rules.what} {name}: {named} change together, but AWS applies them as separate "
                        "modifications, one at a time: change each in its own phase")
    return problems


def _window(new: dict[str, Any], window: str | None) -> str:
    """The maintenance window, named when known (the resource's own, else `window`)."""
    window = new.get("preferredMaintenanceWindow") or new.get("maintenanceWindow") or window
    return f"maintenance window ({window})" if window else "maintenance window"


def changed_leaves(old: dict[str, Any], new: dict[str, Any]) -> Leaves:
    """The scalar forProvider fields (by path through maps) whose value `new` sets differently,
    leaving out references and selectors (AWS reports the resolved value, not the reference)."""
    found: Leaves = {}
    for name, value in new.items():
        if name.endswith(REFERENCE_SUFFIXES) or old.get(name) == value:
            continue
        if isinstance(value, dict):
            before = old.get(name)
            found.update({(name, *path): leaf for path, leaf in
                          changed_leaves(before if isinstance(before, dict) else {}, value).items()})
        elif not isinstance(value, list):
            found[(name,)] = value
    return found


def caught_up(what: str, obj: dict[str, Any], expected: Leaves, since: dt.datetime) -> Readiness:
    """Whether one managed resource has caught up with the change made at `since` that set the
    forProvider fields `expected` (see the module docstring for the order of the checks)."""
    synced = conditions.current(obj, "Synced", since)
    if synced.get("status") == "False":
        return Readiness("Refused", f"{what} is not Synced: {synced.get('reason', '')}: {synced.get('message', '')}")
    failure = conditions.async_failure(obj, since)
    if failure:
        return Readiness("Refused", f"{what}: the provider's asynchronous update failed: {failure}")
    if conditions.async_ongoing(obj):
        return Readiness("Waiting", f"{what}: the provider's asynchronous update is still running "
                                    "(AsyncOperation Ongoing)")
    if synced.get("status") != "True" or conditions.current(obj, "Ready", since).get("status") != "True":
        return Readiness("Waiting", f"{what} is not yet Synced and Ready")
    behind = _behind(((obj.get("status") or {}).get("atProvider")) or {}, expected)
    if behind:
        return Readiness("Waiting", f"{what}: AWS still reports {'; '.join(behind)}")
    return Readiness("Ready")


def _behind(at_provider: dict[str, Any], expected: Leaves) -> list[str]:
    """`field` = observed, not yet the expected value, for each expected field AWS reports. A JSON
    document given as text (a policy) is left out: AWS stores it normalized (key order, spacing),
    so the text it reports never equals the text given."""
    behind = []
    for path, value in sorted(expected.items()):
        if isinstance(value, str) and value.lstrip().startswith(("{", "[")):
            continue
        observed: Any = at_provider
        for part in path:
            observed = observed.get(part) if isinstance(observed, dict) else None
        if observed is not None and not _same(observed, value):
            behind.append(f"atProvider.{'.'.join(path)} = {observed!r}, not yet {value!r}")
    return behind


def _same(observed: Any, wanted: Any) -> bool:
    """Equal as AWS reports it: numbers by value ("7" and 7), booleans and text as text."""
    if isinstance(observed, bool) or isinstance(wanted, bool):
        return str(observed).lower() == str(wanted).lower()
    try:
        return float(observed) == float(wanted)
    except (TypeError, ValueError):
        return str(observed) == str(wanted)

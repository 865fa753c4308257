"""One-way doors: changes whose "rollback" is re-creation, not a restore.

Found from what a change does to the rendered platform, not from the paths it names, so a
whole-map replacement that drops a table is caught as surely as a `remove` of one index: render
the parameters before and after (the composition's own renderer) and compare the managed
resources that hold data.

- a stateful resource deleted: a DynamoDB table, an Aurora cluster (a secondary region's too), the
  global cluster, an ElastiCache replication group, the KMS key that encrypts them;
- a DynamoDB table's GSI dropped (re-adding rebuilds it from the whole table), its stream disabled
  or its view type changed (DynamoDB takes a new view type only by disabling the stream and
  enabling a new one: a new stream ARN consumers must re-point to), point-in-time recovery off;
- an Aurora cluster's backups weakened (retention shortened, deletion protection off, no final
  snapshot), an ElastiCache group's snapshots or a log group's logs kept shorter;
- a table's key schema or an index's keys or projection changed (DynamoDB re-creates them);
- a stateful resource moved to another region (re-created there, empty), an engine upgraded
  (Aurora and ElastiCache cannot go back down), an Elastic IP released (its address is gone).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tap_optimizer.composition.render.platform import InvalidPlatformError
from tap_optimizer.targets.tapplatform import render

STATEFUL = {"Table": "DynamoDB table", "Cluster": "Aurora cluster", "GlobalCluster": "Aurora global cluster",
            "ReplicationGroup": "ElastiCache replication group", "Key": "KMS key", "EIP": "Elastic IP",
            "Group": "log group"}
GONE = {"EIP": "its public address is released for good", "Group": "its logs are deleted"}
Effect = Callable[[str, dict[str, Any], dict[str, Any]], list[str]]


def one_way_doors(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What the change from `before` to `after` (TapPlatform parameters) cannot undo, one sentence
    each. Parameters that do not render (a target someone broke) make the effects unknowable: that
    is a door too, so a person looks before anything is patched."""
    try:
        old, new = render("platform", before), render("platform", after)
    except InvalidPlatformError as invalid:
        return [f"what the change does cannot be known: the parameters do not render ({invalid})"]
    doors = []
    for key, resource in sorted(old.items()):
        kind = resource["kind"]
        if kind not in STATEFUL:
            continue
        if key not in new:
            why = GONE.get(kind, "its data is gone; re-creating it starts empty")
            doors.append(f"deletes {STATEFUL[kind]} {key}: {why}")
            continue
        for effect in (*EFFECTS.get(kind, ()), _moved, _upgraded):
            doors += effect(key, _for_provider(resource), _for_provider(new[key]))
    return doors


def _for_provider(resource: dict[str, Any]) -> dict[str, Any]:
    spec = resource.get("spec") or {}
    return {**(spec.get("initProvider") or {}), **(spec.get("forProvider") or {})}


def _dropped_indexes(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    kept = {index["name"] for index in new.get("globalSecondaryIndex") or []}
    return [f"drops GSI {key}/{index['name']}: re-adding it rebuilds the index from the whole table"
            for index in old.get("globalSecondaryIndex") or [] if index["name"] not in kept]


def _stream(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if not old.get("streamEnabled"):
        return []
    if not new.get("streamEnabled"):
        return [f"disables the stream of {key}: re-enabling gives a new stream ARN that consumers must re-point to"]
    if old.get("streamViewType") != new.get("streamViewType"):
        return [f"changes the stream view type of {key} from {old.get('streamViewType')} to "
                f"{new.get('streamViewType')}: DynamoDB disables the stream and enables a new one, with a new "
                "stream ARN that consumers must re-point to"]
    return []


def _point_in_time_recovery(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    was = (old.get("pointInTimeRecovery") or {}).get("enabled")
    now = (new.get("pointInTimeRecovery") or {}).get("enabled")
    return [f"switches point-in-time recovery of {key} off: the restore window is lost"] if was and not now else []


def _backups(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    doors = []
    if (new.get("backupRetentionPeriod") or 0) < (old.get("backupRetentionPeriod") or 0):
        doors.append(f"shortens the backup retention of {key} from {old['backupRetentionPeriod']} to "
                     f"{new.get('backupRetentionPeriod')} days: older backups are deleted")
    if old.get("deletionProtection") and not new.get("deletionProtection"):
        doors.append(f"switches deletion protection of {key} off")
    if old.get("skipFinalSnapshot") is False and new.get("skipFinalSnapshot"):
        doors.append(f"skips the final snapshot of {key} on deletion")
    return doors


def _key_schema(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    doors = []
    if (old.get("hashKey"), old.get("rangeKey")) != (new.get("hashKey"), new.get("rangeKey")):
        doors.append(f"changes the key schema of {key}: DynamoDB replaces the table, and its data with it")
    before = {index["name"]: index for index in old.get("globalSecondaryIndex") or []}
    for index in new.get("globalSecondaryIndex") or []:
        was = before.get(index["name"])
        if was is not None and was != index:
            doors.append(f"changes GSI {key}/{index['name']}: DynamoDB rebuilds the index from the whole table")
    return doors


def _shorter(field: str, what: str) -> Effect:
    def effect(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
        if (new.get(field) or 0) < (old.get(field) or 0):
            return [f"keeps {what} of {key} {new.get(field) or 0} days instead of {old[field]}: older ones are deleted"]
        return []
    return effect


def _moved(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old.get("region") and new.get("region") and old["region"] != new["region"]:
        return [f"moves {key} from {old['region']} to {new['region']}: it is re-created there, empty"]
    return []


def _upgraded(key: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    if old.get("engineVersion") and new.get("engineVersion") and old["engineVersion"] != new["engineVersion"]:
        return [f"changes the engine version of {key} from {old['engineVersion']} to {new['engineVersion']}: "
                "an upgrade cannot be rolled back down"]
    return []


EFFECTS: dict[str, tuple[Effect, ...]] = {
    "Table": (_dropped_indexes, _key_schema, _stream, _point_in_time_recovery),
    "Cluster": (_backups,),
    "ReplicationGroup": (_shorter("snapshotRetentionLimit", "snapshots"),),
    "Group": (_shorter("retentionInDays", "logs"),),
}

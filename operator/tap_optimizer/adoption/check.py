"""`import --check`: the rendered platform's desired forProvider fields against what runs.

`observed` puts the live configuration in forProvider terms, per composition resource, with the
name AWS knows it by. A rendered resource adopting that name has every observed field compared
with its own, and every difference is listed; one adopting another name is a difference too. A
resource found but not adopted is not compared (the import report says why), and what has no
live value read is listed as not compared, so no difference claims no more than was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tap_optimizer.adoption.model import Live, LiveCluster, LiveTable
from tap_optimizer.adoption.platform import imported, major_minor, table_key
from tap_optimizer.composition.render.common import EXTERNAL_NAME, Resources
from tap_optimizer.composition.render.database import ENGINE, secondary_prefix

Fields = dict[str, Any]
EXTERNAL_NAME_FIELD = "metadata.annotations[crossplane.io/external-name]"
UNCOMPARED_SUFFIXES = ("Ref", "Refs", "Selector", "region", "tags", "tag")
NOT_RUNNING = "(not running)"
# What runs the platform's data and load: one of these rendered but not running is a change.
RUNNING = re.compile(r"^(table-.+|cache-replication-group|database-(cluster|writer|reader-[0-9]+)|"
                     r"secondary-.+-(cluster|instance-[0-9]+)|compute-asg)$")


@dataclass(frozen=True)
class Difference:
    """One forProvider field whose desired value is not what runs (or the external name adopted)."""

    key: str
    field: str
    desired: Any
    live: Any

    def __str__(self) -> str:
        if self.field == NOT_RUNNING:
            return f"{self.key}: runs nowhere in AWS; full management would create it"
        if self.field == EXTERNAL_NAME_FIELD and self.desired is None:
            return (f"{self.key}: adopts nothing (under full management another is created, or none and the "
                    f"running one is left unmanaged), running {self.live!r}")
        path = self.field if self.field == EXTERNAL_NAME_FIELD else f"forProvider.{self.field}"
        return f"{self.key}: {path}: desired {self.desired!r}, running {self.live!r}"


def differences(rendered: Resources, live: Live) -> list[Difference]:
    """Every compared field of an adopted resource whose rendered value differs from AWS's, every
    resource import adopts that the rendered platform does not (it would create another, or leave
    the running one unmanaged), and every table, cache, cluster, instance or group rendered that
    runs nowhere (full management would create it)."""
    running = observed(live)
    out = [Difference(key, NOT_RUNNING, _adopted_name(rendered, key), None)
           for key in sorted(rendered) if RUNNING.match(key) and key not in running]
    adoptable = imported("check", "default", live)[0]["spec"]["parameters"]["externalNames"]
    for key, (name, fields) in sorted(running.items()):
        adopted = _adopted_name(rendered, key)
        if adopted is None:
            out += [Difference(key, EXTERNAL_NAME_FIELD, None, name)] if adoptable.get(key) == name else []
            continue
        if adopted != name:
            out.append(Difference(key, EXTERNAL_NAME_FIELD, adopted, name))
            continue
        desired = _resolved(rendered, rendered[key]["spec"]["forProvider"])
        out += [Difference(key, field, desired.get(field), value) for field, value in sorted(fields.items())
                if _normal(desired.get(field)) != _normal(value)]
    return out


def _resolved(rendered: Resources, desired: Fields) -> Fields:
    """forProvider with each `<field>Ref` to another composed resource as `<field>`: that resource's
    external name, or None when it adopts none (full management creates it)."""
    keys = {obj["metadata"]["name"]: key for key, obj in rendered.items()}
    refs = {name[:-len("Ref")]: ref["name"] for name, ref in desired.items()
            if name.endswith("Ref") and isinstance(ref, dict) and ref.get("name") in keys}
    return {**{field: _adopted_name(rendered, keys[name]) for field, name in refs.items()}, **desired}


def adopted(rendered: Resources, live: Live) -> list[str]:
    """The composition resources found running that the rendered platform adopts by an external name."""
    return sorted(key for key in observed(live) if _adopted_name(rendered, key) is not None)


def created(rendered: Resources) -> list[str]:
    """The composed resources that adopt nothing: under full management Crossplane creates them."""
    return sorted(key for key in rendered if _adopted_name(rendered, key) is None)


def _adopted_name(rendered: Resources, key: str) -> str | None:
    annotations = rendered.get(key, {}).get("metadata", {}).get("annotations") or {}
    return annotations.get(EXTERNAL_NAME)


def not_compared(rendered: Resources, live: Live) -> list[str]:
    """Per adopted resource, the rendered fields with no live value read to compare with."""
    out = []
    keys = set(adopted(rendered, live))
    for key, (_, fields) in sorted(observed(live).items()):
        if key not in keys:
            continue
        rest = sorted(name for name in rendered.get(key, {}).get("spec", {}).get("forProvider", {})
                      if name not in fields and not name.endswith(UNCOMPARED_SUFFIXES))
        if rest:
            out.append(f"{key}: {', '.join(rest)}")
    return out


def _normal(value: Any) -> Any:
    """Values as compared: numbers as numbers, lists of objects in a stable order."""
    if isinstance(value, list):
        return sorted((_normal(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def observed(live: Live) -> dict[str, tuple[str, Fields]]:
    """The live configuration in forProvider terms, with the name AWS knows it by, by composition
    resource name; each in its region (a manifest of another region's platform differs in it)."""
    out = {key: (name, {"region": live.region, **fields}) for key, (name, fields) in _observed(live).items()}
    for secondary in live.secondaries:
        out.update({key: (name, {**fields, "region": secondary.region}) for key, (name, fields)
                    in _cluster(secondary_prefix(secondary.region), secondary, live.global_cluster).items()})
    return out


def _observed(live: Live) -> dict[str, tuple[str, Fields]]:
    out: dict[str, tuple[str, Fields]] = {f"table-{table_key(t.name)}": (t.name, _table(t)) for t in live.tables}
    if live.cache:
        c = live.cache
        out["cache-replication-group"] = c.group_id, {
            "engine": c.engine, "nodeType": c.node_type, "numNodeGroups": c.shards,
            "replicasPerNodeGroup": sorted(set(c.replica_counts)) if c.replica_counts else c.replicas_per_shard,
            "snapshotRetentionLimit": c.snapshot_retention_days,
            "clusterMode": "enabled" if c.cluster_mode else "disabled",
            **({"engineVersion": major_minor(c.engine_version)} if c.engine_version else {}),
            **({"subnetGroupName": c.subnet_group} if c.subnet_group else {}),
            **({"atRestEncryptionEnabled": str(c.at_rest_encryption).lower()} if c.at_rest_encryption is not None
               else {}),  # a string in upjet's schema
            **({"transitEncryptionEnabled": c.transit_encryption} if c.transit_encryption is not None else {}),
            **({"kmsKeyId": c.kms_key} if c.kms_key else {})}
    if live.primary:
        out.update(_cluster("database-", live.primary, live.global_cluster))
    if live.fleet:
        f = live.fleet
        out["compute-asg"] = f.name, {"minSize": f.min_size, "maxSize": f.max_size,
                                      "healthCheckType": f.health_check_type,
                                      "healthCheckGracePeriod": f.health_check_grace_seconds}
    if live.network:
        out["vpc"] = live.network.vpc_id, {"cidrBlock": live.network.cidr}
        out.update({f"subnet-{s.tier}-{s.zone}": (s.subnet_id, {"cidrBlock": s.cidr, "availabilityZone":
                                                                f"{live.region}{s.zone}"})
                    for s in live.network.subnets})
    return out


def _table(table: LiveTable) -> Fields:
    out: Fields = {
        "hashKey": table.hash_key, "billingMode": table.billing_mode,
        "attribute": [{"name": n, "type": t} for n, t in sorted(table.attribute_types.items())],
        "streamEnabled": table.stream_view_type is not None,
        "pointInTimeRecovery": {"enabled": table.point_in_time_recovery},
    }
    if table.range_key:
        out["rangeKey"] = table.range_key
    if table.stream_view_type:
        out["streamViewType"] = table.stream_view_type
    if table.indexes:
        out["globalSecondaryIndex"] = [
            {"name": n, "hashKey": i.hash_key, **({"rangeKey": i.range_key} if i.range_key else {}),
             "projectionType": i.projection} for n, i in sorted(table.indexes.items())]
    return out


def _cluster(prefix: str, cluster: LiveCluster, global_cluster: str | None) -> dict[str, tuple[str, Fields]]:
    fields: Fields = {"engine": ENGINE, "engineVersion": cluster.engine_version,
                      **({"dbSubnetGroupName": cluster.subnet_group} if cluster.subnet_group else {}),
                      **({"storageEncrypted": cluster.storage_encrypted} if cluster.storage_encrypted is not None
                         else {}),
                      **({"kmsKeyId": cluster.kms_key} if cluster.kms_key else {})}
    if global_cluster:
        fields["globalClusterIdentifier"] = global_cluster
    if prefix == "database-":
        fields.update(backupRetentionPeriod=cluster.backup_retention_days,
                      enabledCloudwatchLogsExports=sorted(cluster.log_exports))
        fields.update({k: v for k, v in (("preferredBackupWindow", cluster.backup_window),
                                         ("preferredMaintenanceWindow", cluster.maintenance_window)) if v})
    return {f"{prefix}cluster": (cluster.identifier, fields), **_instances(prefix, cluster)}


def _instances(prefix: str, cluster: LiveCluster) -> dict[str, tuple[str, Fields]]:
    """The primary's writer and readers (in identifier order, as import numbers them), or a
    secondary's instances."""
    ordered = sorted(cluster.instances, key=lambda i: (not i.writer, i.identifier))
    primary = prefix == "database-"
    keys = ["database-writer", *(f"database-reader-{n}" for n in range(len(ordered) - 1))] if primary \
        else [f"{prefix}instance-{n}" for n in range(len(ordered))]
    out = {}
    for key, instance in zip(keys, ordered, strict=False):
        fields: Fields = {"instanceClass": instance.instance_class, "engine": ENGINE}
        if primary:
            fields.update(performanceInsightsEnabled=instance.performance_insights,
                          monitoringInterval=instance.monitoring_interval)
        out[key] = instance.identifier, fields
    return out

"""The TapPlatform that describes what runs: parameters read from the live configuration, external
names of every resource found, observe-only management, and a report of what it cannot express.

A setting the XRD cannot express is reported, never silently replaced by a default; so is every
resource found that the composition has no place for.
"""

from __future__ import annotations

import re
from typing import Any

from tap_optimizer.adoption.model import (
    Live,
    LiveCache,
    LiveCluster,
    LiveFleet,
    LiveInstance,
    LiveNetwork,
    LiveTable,
)
from tap_optimizer.composition.render.database import secondary_prefix
from tap_optimizer.composition.render.network import TIER_FIRST_SLOT, subnet_cidr, zone_slot
from tap_optimizer.platform.parameters import API_VERSION, KIND, OBSERVE_ONLY

PROJECTIONS = {"ALL", "KEYS_ONLY"}
OUTSIDE = "outside the XRD (the TapPlatform cannot express it, --check does not compare it)"
MIN_REPLICAS = 1  # the XRD's minimum of cache.replicasPerShard
ON_DEMAND_PERCENT = 100  # AWS's default share of on-demand instances in a mixed instances policy
MIN_ZONES = 2  # the XRD's minItems of network.availabilityZones
DEFAULT_ZONES = ("a", "b", "c")
DEFAULT_NAT_GATEWAYS = 3
DEFAULT_SUBNET_GROUP = "default"  # the account's own, which no platform adopts
MAX_TABLES = 50  # the XRD's maxProperties of tables
TABLE_KEY = re.compile(r"[^a-z0-9_]")
TABLE_KEY_LENGTH = 57  # `table-<key>` is a composition resource name and a label value: at most 63
KEY_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,255}$")  # the XRD's pattern of a key attribute's name
Report = list[str]


def imported(name: str, namespace: str, live: Live, regions: tuple[str, ...] = ()) -> tuple[dict[str, Any], Report]:
    """The TapPlatform (observe-only) and the report of what it leaves out. `regions` are the
    regions asked for besides the platform's: each should hold a secondary cluster."""
    report: Report = [f"not adopted (no composed resource identified for it): {what}" for what in live.unmodelled]
    report += _regions(live, regions) + _missing(live)
    names: dict[str, str] = {}
    params: dict[str, Any] = {"region": live.region, "managementMode": OBSERVE_ONLY}
    params["tables"] = _tables(live.tables, names, report)
    if live.cache:
        params["cache"] = _cache(live.cache, names, report)
        report += _cache_encryption(live.cache, live.kms_key)
    if live.primary:
        params["database"] = _database(live, live.primary, names, report)
    if live.fleet:
        params["compute"] = _compute(live.fleet, names, report)
    if live.network:
        params["network"] = _network(live.network, names, report)
    _adopt_by_id(live, names)
    params["externalNames"] = dict(sorted(names.items()))
    report += _unread()
    xr = {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace},
          "spec": {"parameters": params}}
    return xr, report


def _regions(live: Live, regions: tuple[str, ...]) -> Report:
    held = {s.region for s in live.secondaries} | {live.region}
    return [f"not imported: region {r} holds no secondary cluster of the database; a TapPlatform describes one "
            "region's platform (import the platform of that region on its own)" for r in regions if r not in held]


def _missing(live: Live) -> Report:
    """Components not found: the TapPlatform gives them the XRD's defaults, which full management creates."""
    found = {"Redis replication group (cache)": live.cache, "Aurora cluster (database)": live.primary,
             "Auto Scaling group (compute)": live.fleet, "VPC (network)": live.network}
    return [f"not found: no {what}; the TapPlatform takes the XRD's defaults for it, which full management "
            "would create" for what, component in found.items() if component is None]


def table_key(name: str) -> str:
    """A table's key under `tables`: the last `-` part of its AWS name (`tap-dev-audit_logs` ->
    `audit_logs`), as the XRD's key pattern allows."""
    key = TABLE_KEY.sub("_", name.rsplit("-", 1)[-1].lower())
    return (key if key[:1].isalpha() else f"t_{key}")[:TABLE_KEY_LENGTH]


def _tables(tables: tuple[LiveTable, ...], names: dict[str, str], report: Report) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in tables:
        key = table_key(table.name)
        if key in out:
            report.append(f"not adopted: dynamodb table {table.name} (its key {key!r} is another table's)")
            continue
        problems = _table_problems(table)
        if len(out) == MAX_TABLES:
            problems.append(f"the XRD holds at most {MAX_TABLES} tables")
        if problems:
            report.append(f"not adopted: dynamodb table {table.name}: {'; '.join(problems)}")
            continue
        out[key] = _table(table)
        report += _table_outside(table)
        names[f"table-{key}"] = table.name
        if table.tenant:
            report.append(f"tenant: dynamodb table {table.name} is tagged TenantId={table.tenant}; analyze never "
                          "changes it")
    return out


def _table_problems(table: LiveTable) -> list[str]:
    problems = [f"attribute {a} is of type {t}; only strings (S) are modelled"
                for a, t in sorted(table.attribute_types.items()) if t != "S"]
    if table.billing_mode != "PAY_PER_REQUEST":
        problems.append(f"billing mode {table.billing_mode}; only PAY_PER_REQUEST is modelled")
    problems += [f"index {n} projects {i.projection}; only ALL and KEYS_ONLY are modelled"
                 for n, i in sorted(table.indexes.items()) if i.projection not in PROJECTIONS]
    keys = {table.hash_key, table.range_key, *(k for i in table.indexes.values() for k in (i.hash_key, i.range_key))}
    problems += [f"key attribute {k!r} does not match the XRD's pattern {KEY_NAME.pattern}"
                 for k in sorted(k for k in keys if k is not None and not KEY_NAME.match(k))]
    if table.local_indexes:  # the provider replaces a table whose local indexes change
        problems.append(f"local secondary indexes {', '.join(table.local_indexes)}; none are modelled")
    return problems


def _table_outside(table: LiveTable) -> Report:
    """Settings of an adopted table the XRD has no field for."""
    outside = [f"time to live on attribute {table.ttl_attribute}" if table.ttl_attribute else "",
               f"table class {table.table_class}" if table.table_class != "STANDARD" else "",
               f"replicas in {', '.join(table.replica_regions)} (a global table)" if table.replica_regions else ""]
    return [f"{OUTSIDE}: dynamodb table {table.name}: {what}" for what in outside if what]


def _keys(hash_key: str, range_key: str | None) -> dict[str, str]:
    return {"hashKey": hash_key, **({"rangeKey": range_key} if range_key else {})}


def _table(table: LiveTable) -> dict[str, Any]:
    out: dict[str, Any] = {
        **_keys(table.hash_key, table.range_key),
        "streamEnabled": table.stream_view_type is not None,
        "pointInTimeRecovery": table.point_in_time_recovery,
        "globalSecondaryIndexes": {n: {**_keys(i.hash_key, i.range_key), "projection": i.projection}
                                   for n, i in sorted(table.indexes.items())},
    }
    if table.stream_view_type:
        out["streamViewType"] = table.stream_view_type
    return out


def _subnet_group(key: str, what: str, group: str | None, names: dict[str, str], report: Report) -> None:
    """The subnet group a cluster or cache runs in, adopted by name: one of the composition's would
    move it to other subnets (AWS replaces a cluster for that). The default group is not adopted."""
    if group and group != DEFAULT_SUBNET_GROUP:
        names[key] = group
    elif group:
        report.append(f"differs: {what} is in the default subnet group; the composition gives it one of its own, "
                      "which full management would create and move it to")


def _cache(cache: LiveCache, names: dict[str, str], report: Report) -> dict[str, Any]:
    names["cache-replication-group"] = cache.group_id
    _subnet_group("cache-subnet-group", f"elasticache replication group {cache.group_id}", cache.subnet_group,
                  names, report)
    if not cache.cluster_mode:
        report.append(f"differs: elasticache replication group {cache.group_id} has cluster mode disabled; the "
                      "composition enables it")
    if cache.engine != "redis":
        report.append(f"differs: elasticache replication group {cache.group_id} runs {cache.engine}; the composition "
                      "runs redis")
    if cache.replica_counts:
        report.append(f"differs: the shards of elasticache replication group {cache.group_id} have "
                      f"{', '.join(map(str, sorted(set(cache.replica_counts))))} replicas; the composition gives every "
                      f"shard as many ({cache.replicas_per_shard})")
    if cache.replicas_per_shard < MIN_REPLICAS:
        report.append(f"differs: elasticache replication group {cache.group_id} has no replica; the composition "
                      f"has at least {MIN_REPLICAS} per shard (automatic failover, multi-AZ)")
    out = {"nodeType": cache.node_type, "shards": cache.shards,
           "replicasPerShard": max(cache.replicas_per_shard, MIN_REPLICAS),
           "snapshotRetentionDays": cache.snapshot_retention_days}
    if cache.engine_version:
        out["engineVersion"] = major_minor(cache.engine_version)
    else:
        report.append(f"default kept (not read from AWS): cache.engineVersion (no node of {cache.group_id} "
                      "answered DescribeCacheClusters)")
    return out


def _cache_encryption(cache: LiveCache, key: str | None) -> Report:
    """The composition encrypts the group at rest with the platform's key (AWS replaces a group to
    change either) and in transit."""
    what = f"differs: elasticache replication group {cache.group_id}"
    out = []
    if cache.at_rest_encryption is False:
        out.append(f"{what} is not encrypted at rest; the composition encrypts it, which AWS does by replacing "
                   "the group")
    elif cache.kms_key and cache.kms_key != key:
        out.append(f"{what} is encrypted with KMS key {cache.kms_key}; the composition uses the platform's "
                   f"({key or 'a new one'}), which AWS changes by replacing the group")
    if cache.transit_encryption is False:
        out.append(f"{what} is not encrypted in transit; the composition encrypts it")
    return out


def major_minor(version: str) -> str:
    """`7.0` of `7.0.7`: the cache's engineVersion as the XRD takes it."""
    return ".".join(version.split(".")[:2])


def _database(live: Live, primary: LiveCluster, names: dict[str, str], report: Report) -> dict[str, Any]:
    names["database-cluster"] = primary.identifier
    report += _encryption(primary, live.kms_key)
    _subnet_group("database-subnet-group", f"aurora cluster {primary.identifier}", primary.subnet_group, names,
                  report)
    report += [f"{OUTSIDE}: aurora cluster {c.identifier}: Serverless v2 capacity {c.serverless_capacity[0]:g}-"
               f"{c.serverless_capacity[1]:g} ACUs" for c in (primary, *live.secondaries) if c.serverless_capacity]
    if live.global_cluster:
        names["database-global"] = live.global_cluster
    writers = [i for i in primary.instances if i.writer]
    out: dict[str, Any] = {
        "engineVersion": primary.engine_version,
        "backupRetentionDays": primary.backup_retention_days, "logExports": sorted(primary.log_exports),
        "secondaryRegions": [_secondary(s, names, report) for s in live.secondaries],
    }
    out.update({k: v for k, v in (("preferredBackupWindow", primary.backup_window),
                                  ("preferredMaintenanceWindow", primary.maintenance_window)) if v})
    if writers:
        names["database-writer"] = writers[0].identifier
        out.update(writerInstanceClass=writers[0].instance_class,
                   performanceInsights=writers[0].performance_insights,
                   monitoringIntervalSeconds=writers[0].monitoring_interval)
        report += _monitoring_differs(primary, writers[0])
    else:
        report.append(f"not found: no writer instance in aurora cluster {primary.identifier}; database."
                      "writerInstanceClass takes the XRD's default, which full management would create")
    return {**out, **_readers(primary, names, report)}


def _encryption(cluster: LiveCluster, key: str | None) -> Report:
    """The composition encrypts a cluster's storage with the platform's key (a secondary's with its
    region's); AWS replaces a cluster to encrypt it or change its key."""
    if cluster.storage_encrypted is False:
        return [f"differs: aurora cluster {cluster.identifier} is not encrypted; the composition encrypts its "
                "storage, which AWS does by replacing the cluster"]
    if cluster.kms_key and cluster.kms_key != key:
        return [f"differs: aurora cluster {cluster.identifier} is encrypted with KMS key {cluster.kms_key}; the "
                f"composition uses the platform's ({key or 'a new one'}), which AWS changes by replacing the cluster"]
    return []


def _monitoring_differs(cluster: LiveCluster, writer: LiveInstance) -> Report:
    """The composition monitors every instance as the writer: an instance monitored otherwise differs."""
    return [f"differs: aurora instance {i.identifier} of {cluster.identifier} has performance insights "
            f"{'on' if i.performance_insights else 'off'} and a monitoring interval of {i.monitoring_interval}s; the "
            f"composition gives every instance the writer's ({'on' if writer.performance_insights else 'off'}, "
            f"{writer.monitoring_interval}s)" for i in sorted(cluster.instances, key=lambda i: i.identifier)
            if (i.performance_insights, i.monitoring_interval) != (writer.performance_insights,
                                                                   writer.monitoring_interval)]


def _readers(primary: LiveCluster, names: dict[str, str], report: Report) -> dict[str, Any]:
    """readerCount and readerInstanceClass; readers are numbered in identifier order."""
    readers = sorted((i for i in primary.instances if not i.writer), key=lambda i: i.identifier)
    names.update({f"database-reader-{index}": reader.identifier for index, reader in enumerate(readers)})
    classes = sorted({r.instance_class for r in readers})
    if len(classes) > 1:
        report.append(f"differs: aurora readers of {primary.identifier} run {', '.join(classes)}; the composition "
                      f"gives every reader one class ({classes[0]})")
    return {"readerCount": len(readers), **({"readerInstanceClass": classes[0]} if classes else {})}


def _secondary(cluster: LiveCluster, names: dict[str, str], report: Report) -> dict[str, Any]:
    prefix = secondary_prefix(cluster.region)
    names[f"{prefix}cluster"] = cluster.identifier
    if cluster.kms_key:
        names[f"{prefix}kms-key"] = cluster.kms_key
    report += _encryption(cluster, cluster.kms_key)
    _subnet_group(f"{prefix}subnet-group", f"aurora secondary {cluster.identifier}", cluster.subnet_group, names,
                  report)
    for index, instance in enumerate(sorted(cluster.instances, key=lambda i: i.identifier)):
        names[f"{prefix}instance-{index}"] = instance.identifier
    out: dict[str, Any] = {"region": cluster.region, "instanceCount": max(1, len(cluster.instances))}
    classes = sorted({i.instance_class for i in cluster.instances})
    if classes:
        out["instanceClass"] = cluster.instances[0].instance_class
    else:
        report.append(f"differs: aurora secondary {cluster.identifier} ({cluster.region}) has no instance; the "
                      "composition gives a secondary at least one, which full management would create")
    if len(classes) > 1:
        report.append(f"differs: aurora secondary {cluster.identifier} ({cluster.region}) runs {', '.join(classes)}; "
                      f"the composition gives its instances one class ({out['instanceClass']})")
    if cluster.vpc_cidr:
        out["vpcCidr"] = cluster.vpc_cidr
    else:
        report.append(f"differs: aurora secondary {cluster.identifier} ({cluster.region}) is in no VPC found; "
                      "secondaryRegions needs its vpcCidr")
    return out


def _compute(fleet: LiveFleet, names: dict[str, str], report: Report) -> dict[str, Any]:
    names["compute-asg"] = fleet.name
    if fleet.health_check_type != "ELB":
        report.append(f"differs: autoscaling group {fleet.name} checks health by {fleet.health_check_type}; the "
                      "composition uses the load balancer's (ELB)")
    if fleet.overrides or fleet.on_demand_percent != ON_DEMAND_PERCENT:
        report.append(f"differs: autoscaling group {fleet.name} has a mixed instances policy (instance types "
                      f"{', '.join(fleet.overrides) or 'of its launch template'}, {fleet.on_demand_percent}% on demand "
                      "above its base); the composition launches its launch template's one instance type, on demand")
    if fleet.launch_configuration:
        report.append(f"differs: autoscaling group {fleet.name} launches from launch configuration "
                      f"{fleet.launch_configuration}; the composition launches from a launch template of its own")
    out: dict[str, Any] = {"minSize": fleet.min_size, "maxSize": fleet.max_size, "desiredCapacity": fleet.desired,
                           "healthCheckGraceSeconds": fleet.health_check_grace_seconds}
    read = {"instanceType": fleet.instance_type, "imageId": fleet.image_id}
    out.update({k: v for k, v in read.items() if v})
    report += [f"default kept (not read from AWS): compute.{k} (autoscaling group {fleet.name} launches from no "
               f"template or configuration naming one)" for k, v in read.items() if not v]
    return out


def _network(network: LiveNetwork, names: dict[str, str], report: Report) -> dict[str, Any]:
    """The VPC, and each subnet that sits where the composition's layout puts its tier and zone;
    one elsewhere cannot be expressed (a subnet's CIDR is fixed by the layout)."""
    names["vpc"] = network.vpc_id
    zones = sorted({s.zone for s in network.subnets})
    for subnet in sorted(network.subnets, key=lambda s: (TIER_FIRST_SLOT.get(s.tier, 0), s.zone)):
        expected = _layout_cidr(network.cidr, subnet.tier, subnet.zone)
        if subnet.cidr == expected:
            names[f"subnet-{subnet.tier}-{subnet.zone}"] = subnet.subnet_id
        else:
            report.append(f"not adopted: {subnet.tier} subnet {subnet.subnet_id} (zone {subnet.zone}) is "
                          f"{subnet.cidr}; the composition's layout puts it at {expected or 'no /24'}")
    if len(zones) < MIN_ZONES:
        report.append(f"differs: the subnets found of VPC {network.vpc_id} are in {len(zones)} zone(s); the XRD "
                      f"needs at least {MIN_ZONES}, so network.availabilityZones keeps its default "
                      f"({', '.join(DEFAULT_ZONES)}), whose subnets full management would create")
    zoned = zones if len(zones) >= MIN_ZONES else list(DEFAULT_ZONES)
    found = DEFAULT_NAT_GATEWAYS if network.nat_gateways is None else network.nat_gateways
    nats = min(max(found, 1), len(zoned))  # the XRD: 1 <= natGateways <= zones
    if network.nat_gateways is None:
        report.append("default kept (not read from AWS): network.natGateways" +
                      (f" (at most one per zone: {nats})" if nats != found else ""))
    elif nats != found:
        report.append(f"differs: VPC {network.vpc_id} has {found} NAT gateway(s); the composition has one to one per "
                      f"zone, so network.natGateways is {nats}")
    return {"vpcCidr": network.cidr, **({"availabilityZones": zones} if len(zones) >= MIN_ZONES else {}),
            "natGateways": nats}


def _layout_cidr(vpc_cidr: str, tier: str, zone: str) -> str | None:
    try:
        return subnet_cidr(vpc_cidr, tier, zone_slot(zone)) if tier in TIER_FIRST_SLOT else None
    except (ValueError, IndexError):
        return None


def _adopt_by_id(live: Live, names: dict[str, str]) -> None:
    """Resources adopted by name alone: the key and its alias, the security groups, the load balancer
    and its target groups."""
    if live.kms_key:
        names["kms-key"] = live.kms_key
    if live.kms_alias:
        names["kms-alias"] = live.kms_alias
    if live.load_balancer:
        names["lb-alb"] = live.load_balancer
    names.update({f"lb-tg-{group}": arn for group, arn in live.target_groups.items()})
    names.update(live.security_groups)


def _unread() -> Report:
    """Settings import does not read: they keep the XRD's defaults, which --check cannot confirm."""
    return ["default kept (not read from AWS): " + what for what in (
        "compute.targetCpuPercent and compute.requestsPerTargetHigh (the scaling policies)",
        "database.maxConnections (the cluster parameter group), cpuAlarmPercent and connectionsAlarmThreshold",
        "the cache's parameter group (under full management the composition's, which sets only cluster-enabled)",
        "network.flowLogRetentionDays",
        "loadBalancer (idle timeout, HTTP/2, certificate, TLS policy, deregistration delay, stickiness)",
        "the tables' encryption (the composition encrypts them with its KMS key), the cache's auth token and the "
        "clusters' deletion protection",
        "tags (under full management every resource also gets tap.io/platform and tap.io/component)",
    )]

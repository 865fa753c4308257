"""Find the platform's AWS resources in each region.

Names come from the TapPlatform itself: the composition gives the table, cache, Auto Scaling
group and primary cluster fixed external names (or those `externalNames` adopts, secondaries'
clusters included), so rendering the TapPlatform tells us what to describe. What AWS names (a
secondary region's cluster) is found by the discovery tag `tap.io/platform=<name>` through the
Resource Groups Tagging API, which also finds every resource carrying a `TenantId` tag: those are
excluded, whatever else they carry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import botocore.exceptions

from tap_optimizer.analysis.aws import Aws, pages
from tap_optimizer.analysis.inventory import Cache, Cluster, Fleet, Inventory, Table, Tenanted
from tap_optimizer.composition.render.cache import replication_group_id
from tap_optimizer.composition.render.common import COMPONENT_TAG, PLATFORM_TAG, Platform
from tap_optimizer.composition.render.compute import asg_name
from tap_optimizer.composition.render.database import cluster_identifier, secondary_prefix
from tap_optimizer.composition.render.platform import platform_of
from tap_optimizer.composition.render.tables import table_name

TENANT_TAG = "TenantId"
NOT_FOUND = {"ResourceNotFoundException", "ReplicationGroupNotFoundFault", "DBClusterNotFoundFault",
             "DBInstanceNotFound", "DBInstanceNotFoundFault"}
Progress = Callable[[str], None]


def regions_of(xr: dict[str, Any]) -> list[str]:
    """The TapPlatform's region, then its database's secondary regions."""
    platform = platform_of(xr)
    secondaries = [s["region"] for s in platform.params["database"].get("secondaryRegions", [])]
    return [platform.region, *[r for r in secondaries if r != platform.region]]


def discover(aws: Aws, xr: dict[str, Any], regions: list[str], progress: Progress = print) -> Inventory:
    platform = platform_of(xr)
    tagged = {region: _tagged(aws, region, [{"Key": PLATFORM_TAG, "Values": [platform.name]}]) for region in regions}
    tenants = [Tenanted(arn, region, tags[TENANT_TAG]) for region in regions
               for arn, tags in _tagged(aws, region, [{"Key": TENANT_TAG}]).items()]
    missing: list[str] = []
    progress(f"discovery: {sum(map(len, tagged.values()))} tagged resources in {len(regions)} region(s), "
             f"{len(tenants)} with a TenantId tag")
    tables = tuple(t for key in sorted(platform.params["tables"])
                   if (t := _table(aws, platform, key, missing)) is not None)
    fleet = _fleet(aws, platform, missing)
    cache = _cache(aws, platform, missing)
    primary = _primary(aws, platform, missing)
    secondaries = tuple(_secondaries(tagged, platform.region, _adopted_secondaries(aws, platform, missing)))
    return Inventory(
        platform=platform.name, namespace=xr.get("metadata", {}).get("namespace", "default"),
        region=platform.region, parameters=platform.params, tables=tables,
        fleets=(fleet,) if fleet else (), caches=(cache,) if cache else (),
        clusters=((primary,) if primary else ()) + secondaries,
        tenanted=tuple(t for t in tenants if _belongs(t, tagged, tables)), missing=tuple(missing))


def _tagged(aws: Aws, region: str, filters: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """ARN -> tags of every resource matching the tag filters in one region."""
    found = pages(aws.client("resourcegroupstaggingapi", region), "get_resources", "ResourceTagMappingList",
                  TagFilters=filters)
    return {r["ResourceARN"]: {t["Key"]: t["Value"] for t in r.get("Tags", [])} for r in found}


def _belongs(tenant: Tenanted, tagged: dict[str, dict[str, dict[str, str]]], tables: tuple[Table, ...]) -> bool:
    """A tenant resource matters when it is one of the platform's: tagged with it, or one of its tables."""
    return tenant.arn in tagged.get(tenant.region, {}) or any(t.arn == tenant.arn for t in tables)


def described(describe: Callable[[], dict[str, Any]], what: str, missing: list[str]) -> dict[str, Any] | None:
    """A describe call's answer, or None (and `what` noted as missing) when AWS has no such resource."""
    try:
        return describe()
    except botocore.exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            missing.append(what)
            return None
        raise


def _table(aws: Aws, platform: Platform, key: str, missing: list[str]) -> Table | None:
    return table(aws, platform.region, table_name(platform, key), key, missing)


def table(aws: Aws, region: str, name: str, key: str, missing: list[str]) -> Table | None:
    """The table `name` (a name or its ARN) as the rules see it, `key` naming its measurements, or
    None (noted in `missing`) when AWS has none."""
    client = aws.client("dynamodb", region)
    answer = described(lambda: client.describe_table(TableName=name)["Table"],
                      f"dynamodb table {name} ({region})", missing)
    if answer is None:
        return None
    name = answer["TableName"]
    stream_arn = answer.get("LatestStreamArn") if answer.get("StreamSpecification", {}).get("StreamEnabled") \
        else None
    return Table(
        key=key, name=name, region=region, arn=answer["TableArn"],
        indexes={i["IndexName"]: i.get("IndexSizeBytes") for i in answer.get("GlobalSecondaryIndexes", [])},
        stream_arn=stream_arn, stream_label=answer.get("LatestStreamLabel") if stream_arn else None,
        lambda_consumers=_lambda_consumers(aws, region, stream_arn),
        kinesis_destinations=_kinesis_destinations(client, name))


def _lambda_consumers(aws: Aws, region: str, stream_arn: str | None) -> tuple[str, ...]:
    """Functions mapped to this exact stream ARN (never a wildcard: that matches every stream)."""
    if stream_arn is None:
        return ()
    mappings = pages(aws.client("lambda", region), "list_event_source_mappings", "EventSourceMappings",
                     EventSourceArn=stream_arn)
    return tuple(sorted(m["FunctionArn"] for m in mappings if m.get("EventSourceArn") == stream_arn))


def _kinesis_destinations(client: Any, table: str) -> tuple[str, ...]:
    answer = client.describe_kinesis_streaming_destination(TableName=table)
    return tuple(sorted(d["StreamArn"] for d in answer.get("KinesisDataStreamDestinations", [])
                        if d.get("DestinationStatus") in {"ACTIVE", "ENABLING", "UPDATING"}))


def _fleet(aws: Aws, platform: Platform, missing: list[str]) -> Fleet | None:
    found = auto_scaling_group(aws, platform.region, asg_name(platform), missing)
    return fleet(found, platform.region, platform.params["compute"]["instanceType"]) if found else None


def auto_scaling_group(aws: Aws, region: str, name: str, missing: list[str]) -> dict[str, Any] | None:
    """DescribeAutoScalingGroups' answer for `name`, or None (noted in `missing`)."""
    groups = aws.client("autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        missing.append(f"autoscaling group {name} ({region})")
        return None
    return dict(groups[0])


def fleet(group: dict[str, Any], region: str, instance_type: str) -> Fleet:
    """The group as the rules see it, running `instance_type`."""
    return Fleet(name=group["AutoScalingGroupName"], region=region, arn=group["AutoScalingGroupARN"],
                 instance_type=instance_type, min_size=group["MinSize"],
                 desired=group["DesiredCapacity"], max_size=group["MaxSize"])


def _cache(aws: Aws, platform: Platform, missing: list[str]) -> Cache | None:
    return cache(aws, platform.region, replication_group_id(platform), missing)


def cache(aws: Aws, region: str, group_id: str, missing: list[str]) -> Cache | None:
    """The replication group as the rules see it, or None (noted in `missing`)."""
    group = described(lambda: aws.client("elasticache", region).describe_replication_groups(
        ReplicationGroupId=group_id)["ReplicationGroups"][0],
        f"elasticache replication group {group_id} ({region})", missing)
    if group is None:
        return None
    shards = group.get("NodeGroups", [])
    nodes = tuple(sorted({m["CacheClusterId"] for s in shards for m in s.get("NodeGroupMembers", [])}))
    replicas = max((len(s.get("NodeGroupMembers", [])) - 1 for s in shards), default=0)
    return Cache(group_id=group_id, region=region, arn=group["ARN"], node_type=group["CacheNodeType"],
                 shards=len(shards), replicas_per_shard=replicas, nodes=nodes)


def cluster(aws: Aws, region: str, identifier: str, missing: list[str]) -> dict[str, Any] | None:
    """DescribeDBClusters' answer for `identifier`, or None (noted in `missing`)."""
    return described(lambda: aws.client("rds", region).describe_db_clusters(
        DBClusterIdentifier=identifier)["DBClusters"][0], f"aurora cluster {identifier} ({region})", missing)


def _primary(aws: Aws, platform: Platform, missing: list[str]) -> Cluster | None:
    identifier = cluster_identifier(platform)
    found = cluster(aws, platform.region, identifier, missing)
    if found is None:
        return None
    return Cluster(identifier=identifier, region=platform.region, arn=found["DBClusterArn"], primary=True,
                   backup_retention_days=found.get("BackupRetentionPeriod", 0))


def _adopted_secondaries(aws: Aws, platform: Platform, missing: list[str]) -> list[Cluster]:
    """Secondary clusters named by the TapPlatform's external names: an adopted platform's
    resources carry no discovery tag."""
    out = []
    for secondary in platform.params["database"]["secondaryRegions"]:
        region = secondary["region"]
        identifier = platform.external_name(f"{secondary_prefix(region)}cluster")
        found = cluster(aws, region, identifier, missing) if identifier else None
        if identifier and found:
            out.append(Cluster(identifier=identifier, region=region, arn=found["DBClusterArn"], primary=False))
    return out


def _secondaries(tagged: dict[str, dict[str, dict[str, str]]], primary_region: str,
                 adopted: list[Cluster]) -> list[Cluster]:
    """Aurora clusters tagged as the platform's secondaries, outside the primary's region, and
    those adopted by external name."""
    out = {c.arn: c for c in adopted}
    for region, resources in tagged.items():
        for arn, tags in resources.items():
            if region != primary_region and ":cluster:" in arn and tags.get(COMPONENT_TAG) == "database-secondary":
                out[arn] = Cluster(identifier=arn.rsplit(":", 1)[1], region=region, arn=arn, primary=False)
    return sorted(out.values(), key=lambda c: c.region)

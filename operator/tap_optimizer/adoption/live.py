"""Find a running platform's resources (a CloudFormation stack's outputs and resources, or a tag)
and read their live configuration into model.Live."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from tap_optimizer.adoption.model import (
    Live,
    LiveCache,
    LiveCluster,
    LiveFleet,
    LiveIndex,
    LiveInstance,
    LiveNetwork,
    LiveSubnet,
    LiveTable,
)
from tap_optimizer.analysis.aws import Aws, pages

TENANT_TAG = "TenantId"
# CDK stack output -> what it names (the reference stack's outputs)
OUTPUTS = {"AuroraClusterIdentifier": "cluster", "RedisClusterId": "cache", "AutoScalingGroupName": "asg",
           "VpcId": "vpc", "KmsKeyId": "kms", "AlbArn": "lb"}
SUBNET_OUTPUTS = {"PublicSubnetIds": "public", "PrivateSubnetIds": "private", "IsolatedSubnetIds": "isolated"}
GROUP_OUTPUTS = {"AlbSecurityGroupId": "sg-alb", "Ec2SecurityGroupId": "sg-app",
                 "DatabaseSecurityGroupId": "sg-database", "RedisSecurityGroupId": "sg-cache"}
TARGET_GROUPS = ("api", "admin", "metrics")
# CloudFormation type -> what it is, for stacks without the reference outputs
STACK_TYPES = {"AWS::DynamoDB::Table": "table", "AWS::ElastiCache::ReplicationGroup": "cache",
               "AWS::RDS::DBCluster": "cluster", "AWS::AutoScaling::AutoScalingGroup": "asg",
               "AWS::EC2::VPC": "vpc", "AWS::KMS::Key": "kms",
               "AWS::ElasticLoadBalancingV2::LoadBalancer": "lb"}
CDK_SUBNET_TYPE = "aws-cdk:subnet-type"
ASG_TAG = "aws:autoscaling:groupName"
CDK_TIERS = {"Public": "public", "Private": "private", "Isolated": "isolated"}


@dataclass
class Found:
    """The identifiers of a platform's resources, before their configuration is read."""

    region: str
    tables: list[str] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # cluster, cache, asg, vpc, kms, lb -> name, id or ARN
    subnets: dict[str, str] = field(default_factory=dict)  # subnet id -> tier
    target_groups: dict[str, str] = field(default_factory=dict)
    security_groups: dict[str, str] = field(default_factory=dict)
    others: list[tuple[str, str, str]] = field(default_factory=list)  # (type, logical id, physical id)
    clashes: set[tuple[str, str]] = field(default_factory=set)  # (what, id) besides the one in ids: a tag's

KINDS = {"cluster": "Aurora clusters", "cache": "Redis replication groups", "asg": "Auto Scaling groups",
         "vpc": "VPCs", "kms": "KMS keys", "lb": "load balancers"}


def refusal(found: Found, source: str) -> str | None:
    """Why what was found is no one platform: nothing of one, or (a tag) more than one of a kind
    the TapPlatform has one of, which would adopt one at random and drop the other."""
    if not found.tables and not found.ids:
        return (f"{source}: found no DynamoDB table, Redis replication group, Aurora cluster, Auto Scaling group, "
                f"VPC, KMS key or load balancer in {found.region} (the first of --regions, else the AWS "
                "configuration's region)")
    several = [f"{KINDS[what]} {', '.join(sorted({found.ids[what], *(i for w, i in found.clashes if w == what)}))}"
               for what in sorted({w for w, _ in found.clashes})]
    if several:
        return (f"{source}: it is on more than one platform in {found.region} ({'; '.join(several)}); give a tag "
                "only one platform's resources carry, or --stack")
    return None


def from_stack(aws: Aws, region: str, stack: str) -> Found:
    """What a CloudFormation stack's outputs name, and its resources by type."""
    cfn = aws.client("cloudformation", region)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]
               .get("Outputs", [])}
    found = Found(region)
    found.ids = {what: outputs[key] for key, what in OUTPUTS.items() if outputs.get(key)}
    found.tables = sorted(v for k, v in outputs.items() if k.startswith("DynamoTable") and k.endswith("Name"))
    found.subnets = {sid: tier for key, tier in SUBNET_OUTPUTS.items()
                     for sid in outputs.get(key, "").split(",") if sid}
    found.target_groups = {g: outputs[f"TargetGroup{g.title()}Arn"] for g in TARGET_GROUPS
                           if f"TargetGroup{g.title()}Arn" in outputs}
    found.security_groups = {key: outputs[out] for out, key in GROUP_OUTPUTS.items() if out in outputs}
    for resource in pages(cfn, "list_stack_resources", "StackResourceSummaries", StackName=stack):
        _stack_resource(found, resource["ResourceType"], resource["LogicalResourceId"],
                        resource.get("PhysicalResourceId", ""))
    _tiered_subnets(aws, found)
    return found


def _tiered_subnets(aws: Aws, found: Found) -> None:
    """The stack's subnets no output names, tiered by the CDK's subnet-type tag as with --tag."""
    subnets = [physical for kind, _, physical in found.others if kind == "AWS::EC2::Subnet" and physical]
    described = aws.client("ec2", found.region).describe_subnets(SubnetIds=subnets)["Subnets"] if subnets else []
    for subnet in described:
        tier = CDK_TIERS.get({t["Key"]: t["Value"] for t in subnet.get("Tags", [])}.get(CDK_SUBNET_TYPE, ""))
        if tier:
            found.subnets[subnet["SubnetId"]] = tier
    found.others = [o for o in found.others if o[2] not in found.subnets]


def _stack_resource(found: Found, kind: str, logical: str, physical: str) -> None:
    what = STACK_TYPES.get(kind)
    if what == "table":
        found.tables = sorted({*found.tables, physical})
    elif what is not None:
        found.ids.setdefault(what, physical)
    if physical not in _named(found):
        found.others.append((kind, logical, physical))


def _named(found: Found) -> set[str]:
    return {*found.tables, *found.ids.values(), *found.subnets, *found.target_groups.values(),
            *found.security_groups.values()}


def from_tag(aws: Aws, region: str, key: str, value: str) -> Found:
    """The resources carrying a tag in the platform's region, classified by their ARNs."""
    tagged = pages(aws.client("resourcegroupstaggingapi", region), "get_resources", "ResourceTagMappingList",
                   TagFilters=[{"Key": key, "Values": [value]}])
    return tagged_found(region, [(r["ResourceARN"], {t["Key"]: t["Value"] for t in r.get("Tags", [])})
                                 for r in tagged])


def tagged_found(region: str, tagged: list[tuple[str, dict[str, str]]]) -> Found:
    """The resources of (ARN, tags), classified by their ARNs."""
    found = Found(region)
    for arn, tags in tagged:
        _tagged_arn(found, arn, tags)
    return found


def _identify(found: Found, what: str, identifier: str) -> None:
    if found.ids.setdefault(what, identifier) != identifier:
        found.clashes.add((what, identifier))


def _tagged_arn(found: Found, arn: str, tags: dict[str, str]) -> None:
    service, resource = arn.split(":")[2], arn.split(":", 5)[5]
    kind, _, name = resource.replace(":", "/").partition("/")
    simple = {("dynamodb", "table"): "table", ("elasticache", "replicationgroup"): "cache",
              ("rds", "cluster"): "cluster", ("ec2", "vpc"): "vpc", ("kms", "key"): "kms",
              ("elasticloadbalancing", "loadbalancer"): "lb"}
    what = simple.get((service, kind))
    if what == "table":
        found.tables.append(name)
    elif what is not None:
        _identify(found, what, arn if what == "lb" else name)
    elif service == "autoscaling":
        _identify(found, "asg", resource.rsplit("autoScalingGroupName/", 1)[-1])
    elif (service, kind) == ("ec2", "instance") and ASG_TAG in tags:
        _identify(found, "asg", tags[ASG_TAG])  # the tagging API lists a group's instances, not the group
    elif (service, kind) == ("ec2", "subnet") and tags.get(CDK_SUBNET_TYPE) in CDK_TIERS:
        found.subnets[name] = CDK_TIERS[tags[CDK_SUBNET_TYPE]]
    elif (service, kind) == ("elasticloadbalancing", "targetgroup") and _target_group(found, name, arn):
        pass
    else:
        found.others.append((f"{service}/{kind}", "", arn))


def _target_group(found: Found, name: str, arn: str) -> bool:
    """Adopt a target group whose name has one of ours as a word (`tap-dev-api-tg`), unless that
    one is taken; whether it was."""
    words = name.split("/", maxsplit=1)[0].lower().replace("_", "-").split("-")
    group = next((g for g in TARGET_GROUPS if g in words), None)
    return group is not None and found.target_groups.setdefault(group, arn) == arn


def read(aws: Aws, found: Found) -> Live:
    """The live configuration of everything found."""
    region = found.region
    cluster = found.ids.get("cluster")
    global_id, secondaries = _global(aws, region, cluster) if cluster else (None, ())
    primary = _cluster(aws, region, cluster, True) if cluster else None
    instances = {i.identifier for c in (primary, *secondaries) if c for i in c.instances}
    others = [o for o in found.others if not _part_of(o[2], instances, found.ids.get("cache"))]
    return Live(
        region=region, tables=tuple(_table(aws, region, name) for name in found.tables),
        cache=_cache(aws, region, found.ids["cache"]) if "cache" in found.ids else None,
        global_cluster=global_id, primary=primary, secondaries=secondaries,
        fleet=_fleet(aws, region, found.ids["asg"]) if "asg" in found.ids else None,
        network=_network(aws, region, found.ids["vpc"], found.subnets) if "vpc" in found.ids else None,
        kms_key=found.ids.get("kms"), kms_alias=_alias(aws, region, found.ids["kms"]) if "kms" in found.ids else None,
        load_balancer=found.ids.get("lb"), target_groups=found.target_groups,
        security_groups=found.security_groups,
        unmodelled=tuple(" ".join(filter(None, (kind, logical, f"({physical})")))
                         for kind, logical, physical in others))


def _alias(aws: Aws, region: str, key: str) -> str | None:
    """The key's first alias (the composition renders one), if it has any."""
    aliases = pages(aws.client("kms", region), "list_aliases", "Aliases", KeyId=key)
    return min((a["AliasName"] for a in aliases), default=None)


def _part_of(physical: str, instances: set[str], cache: str | None) -> bool:
    """Whether a resource found by tag is a part of one adopted with its whole: an Aurora instance
    of an adopted cluster, or a node of the adopted Redis group (its id is `<group>-NNNN-NNN`)."""
    name = physical.rsplit(":", 1)[-1]
    return (":rds:" in physical and name in instances) or \
        (cache is not None and ":elasticache:" in physical and name.startswith(f"{cache}-"))


def _table(aws: Aws, region: str, name: str) -> LiveTable:
    client = aws.client("dynamodb", region)
    table = client.describe_table(TableName=name)["Table"]
    keys = {k["KeyType"]: k["AttributeName"] for k in table["KeySchema"]}
    backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    stream = table.get("StreamSpecification") or {}
    tags = {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=table["TableArn"]).get("Tags", [])}
    ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription") or {}
    return LiveTable(
        name=name, hash_key=keys["HASH"], range_key=keys.get("RANGE"),
        attribute_types={a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]},
        billing_mode=(table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED"),
        indexes={i["IndexName"]: _index(i) for i in table.get("GlobalSecondaryIndexes", [])},
        stream_view_type=stream.get("StreamViewType") if stream.get("StreamEnabled") else None,
        point_in_time_recovery=(backups.get("PointInTimeRecoveryDescription") or {})
        .get("PointInTimeRecoveryStatus") == "ENABLED",
        tenant=tags.get(TENANT_TAG),
        local_indexes=tuple(sorted(i["IndexName"] for i in table.get("LocalSecondaryIndexes", []))),
        ttl_attribute=ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING") else None,
        table_class=(table.get("TableClassSummary") or {}).get("TableClass", "STANDARD"),
        replica_regions=tuple(sorted(r["RegionName"] for r in table.get("Replicas", []))))


def _index(index: dict[str, Any]) -> LiveIndex:
    keys = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
    return LiveIndex(keys["HASH"], keys.get("RANGE"), index["Projection"]["ProjectionType"])


def _cache(aws: Aws, region: str, group_id: str) -> LiveCache:
    group = aws.client("elasticache", region).describe_replication_groups(
        ReplicationGroupId=group_id)["ReplicationGroups"][0]
    shards = group.get("NodeGroups", [])
    members = [m["CacheClusterId"] for s in shards for m in s.get("NodeGroupMembers", [])]
    replicas = tuple(len(s.get("NodeGroupMembers", [])) - 1 for s in shards)
    node = _node(aws, region, members)
    return LiveCache(
        group_id=group_id, node_type=group["CacheNodeType"], engine_version=str(node.get("EngineVersion", "")),
        subnet_group=node.get("CacheSubnetGroupName"), at_rest_encryption=group.get("AtRestEncryptionEnabled"),
        transit_encryption=group.get("TransitEncryptionEnabled"),
        kms_key=group["KmsKeyId"].rsplit("/", 1)[-1] if group.get("KmsKeyId") else None,
        shards=len(shards), replicas_per_shard=max(replicas, default=0),
        replica_counts=replicas if len(set(replicas)) > 1 else (), engine=group.get("Engine", "redis"),
        snapshot_retention_days=group.get("SnapshotRetentionLimit", 0),
        # only cluster mode has more than one shard
        cluster_mode=bool(group.get("ClusterEnabled")) or group.get("ClusterMode") == "enabled" or len(shards) > 1)


def _node(aws: Aws, region: str, members: list[str]) -> dict[str, Any]:
    """A node of the group: what a replication group does not say (the Redis version its nodes run,
    its subnet group); empty when no node answers."""
    for member in members[:1]:
        try:
            return dict(aws.client("elasticache", region).describe_cache_clusters(
                CacheClusterId=member)["CacheClusters"][0])
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") != "CacheClusterNotFound":
                raise
    return {}


def _global(aws: Aws, region: str, cluster: str) -> tuple[str | None, tuple[LiveCluster, ...]]:
    """The global cluster the primary belongs to, and its members in other regions."""
    arn = aws.client("rds", region).describe_db_clusters(DBClusterIdentifier=cluster)["DBClusters"][0]["DBClusterArn"]
    for glob in pages(aws.client("rds", region), "describe_global_clusters", "GlobalClusters"):
        members = [m["DBClusterArn"] for m in glob.get("GlobalClusterMembers", [])]
        if arn in members:
            others = sorted(m for m in members if m != arn)
            return glob["GlobalClusterIdentifier"], tuple(
                _cluster(aws, m.split(":")[3], m.rsplit(":", 1)[1], False) for m in others)
    return None, ()


def _cluster(aws: Aws, region: str, identifier: str, primary: bool) -> LiveCluster:
    rds = aws.client("rds", region)
    cluster = rds.describe_db_clusters(DBClusterIdentifier=identifier)["DBClusters"][0]
    instances = tuple(_instance(rds, m["DBInstanceIdentifier"], m.get("IsClusterWriter", False))
                      for m in cluster.get("DBClusterMembers", []))
    scaling = cluster.get("ServerlessV2ScalingConfiguration")
    common = {"identifier": identifier, "region": region, "engine_version": cluster.get("EngineVersion", ""),
              "instances": instances, "serverless_capacity": (scaling["MinCapacity"], scaling["MaxCapacity"])
              if scaling else None, "subnet_group": cluster.get("DBSubnetGroup"),
              "storage_encrypted": cluster.get("StorageEncrypted"),
              "kms_key": cluster["KmsKeyId"].rsplit("/", 1)[-1] if cluster.get("StorageEncrypted") else None}
    if not primary:
        return LiveCluster(**common, vpc_cidr=_subnet_group_cidr(aws, region, cluster.get("DBSubnetGroup")))
    return LiveCluster(**common, backup_retention_days=cluster.get("BackupRetentionPeriod", 0),
                       backup_window=cluster.get("PreferredBackupWindow", ""),
                       maintenance_window=cluster.get("PreferredMaintenanceWindow", ""),
                       log_exports=tuple(cluster.get("EnabledCloudwatchLogsExports", [])))


def _instance(rds: Any, identifier: str, writer: bool) -> LiveInstance:
    instance = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"][0]
    return LiveInstance(identifier=identifier, instance_class=instance["DBInstanceClass"], writer=writer,
                        performance_insights=bool(instance.get("PerformanceInsightsEnabled")),
                        monitoring_interval=int(instance.get("MonitoringInterval", 0)))


def _subnet_group_cidr(aws: Aws, region: str, group: str | None) -> str | None:
    if not group:
        return None
    vpc = aws.client("rds", region).describe_db_subnet_groups(DBSubnetGroupName=group)["DBSubnetGroups"][0]["VpcId"]
    return aws.client("ec2", region).describe_vpcs(VpcIds=[vpc])["Vpcs"][0]["CidrBlock"]


def _fleet(aws: Aws, region: str, name: str) -> LiveFleet:
    group = aws.client("autoscaling", region).describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
    mixed = group.get("MixedInstancesPolicy") or {}
    template = group.get("LaunchTemplate") or mixed.get("LaunchTemplate", {}).get("LaunchTemplateSpecification") or {}
    configuration = group.get("LaunchConfigurationName")
    data: dict[str, Any] = {}
    if template:
        version = template.get("Version") or "$Default"
        data = aws.client("ec2", region).describe_launch_template_versions(
            LaunchTemplateId=template["LaunchTemplateId"], Versions=[version])["LaunchTemplateVersions"][0][
            "LaunchTemplateData"]
    elif configuration:
        data = aws.client("autoscaling", region).describe_launch_configurations(
            LaunchConfigurationNames=[configuration])["LaunchConfigurations"][0]
    return LiveFleet(name=name, min_size=group["MinSize"], max_size=group["MaxSize"], desired=group["DesiredCapacity"],
                     health_check_grace_seconds=group.get("HealthCheckGracePeriod", 0),
                     health_check_type=group.get("HealthCheckType", "EC2"),
                     instance_type=data.get("InstanceType"), image_id=data.get("ImageId"),
                     overrides=tuple(o["InstanceType"] for o in mixed.get("LaunchTemplate", {}).get("Overrides", [])
                                     if "InstanceType" in o),
                     on_demand_percent=(mixed.get("InstancesDistribution") or {}).get(
                         "OnDemandPercentageAboveBaseCapacity", 100),
                     launch_configuration=None if template else configuration)


def _network(aws: Aws, region: str, vpc_id: str, tiers: dict[str, str]) -> LiveNetwork:
    ec2 = aws.client("ec2", region)
    cidr = ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    subnets = ec2.describe_subnets(SubnetIds=sorted(tiers))["Subnets"] if tiers else []
    nats = pages(ec2, "describe_nat_gateways", "NatGateways", Filters=[
        {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "state", "Values": ["pending", "available"]}])
    return LiveNetwork(vpc_id=vpc_id, cidr=cidr, subnets=tuple(
        LiveSubnet(s["SubnetId"], tiers[s["SubnetId"]], s["AvailabilityZone"][-1], s["CidrBlock"])
        for s in sorted(subnets, key=lambda s: s["SubnetId"])), nat_gateways=len(nats))

"""A fixture builder: the tap-prod platform in AWS (moto), in three regions, with 60 days of
CloudWatch metrics shaped by a `Scenario`, so that some rules fire and some do not.

Resources are created through the AWS APIs as Crossplane would create them (names from the
composition, the discovery tags). Metrics are stored straight into moto's in-process CloudWatch
backend: PutMetricData of 60 days of hourly data would be ~500 HTTP calls per region, and moto
accepts what real CloudWatch refuses anyway (points older than two weeks).
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import json
import random
import zipfile
from dataclasses import dataclass, field
from typing import Any

import yaml
from moto.cloudwatch.models import MetricAggregatedDatum, MetricDatum

from tap_optimizer.composition.render.common import COMPONENT_TAG, PLATFORM_TAG
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM, defaulted_parameters
from tap_optimizer_local.moto_aws import KINESIS_DESTINATIONS, Moto

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TENANT_TABLE = "tenant_acme"
ASG = "tap-prod-compute-asg"


@dataclass
class Scenario:
    """What the platform's 60 days looked like. Defaults: an over-provisioned platform."""

    idle_indexes: set[tuple[str, str]] = field(default_factory=lambda: {("users", "ByRole"), ("tenants", "ByPlan")})
    lambda_streams: set[str] = field(default_factory=lambda: {"audit_logs"})
    kinesis_streams: set[str] = field(default_factory=set)
    read_streams: set[str] = field(default_factory=lambda: {"tenants"})  # GetRecords traffic, no mapping
    fleet_cpu: float = 25.0                  # percent
    fleet_network_bytes: float = 2e8         # per minute, in and out each
    cache_cpu: float = 12.0
    cache_memory: float = 5.0
    cache_commands: float = 3_000            # per minute per node, gets and sets each
    writer_cpu: float = 30.0
    writer_connections: float = 600.0        # peak per hour
    reader_cpu: float = 15.0                 # percent, the readers' p95
    reader_connections: float = 300.0        # the busiest reader's peak per hour
    replica_lag_ms: float = 20.0
    read_iops: float = 100.0
    write_iops: float = 900.0
    secondary_selects: dict[str, float] = field(default_factory=lambda: {"us-west-2": 0.0, "eu-west-1": 40.0})
    backup_bytes: float = 800e9
    days: int = 60
    hours_per_point: int = 1
    seed: int = 7


@dataclass(frozen=True)
class Names:
    """The AWS names of the platform's resources and the tags they carry: the composition's (its
    names and discovery tags), or another tool's, e.g. the CDK's for a platform to adopt."""

    prefix: str = "tap-prod"  # tables are <prefix>-<table>
    asg: str = ASG
    cache: str = "tap-prod-cache"
    cluster: str = "tap-prod-database-cluster"
    global_cluster: str = "tap-prod-global"
    secondary: str = "tap-prod-secondary-{region}"
    tags: tuple[tuple[str, str], ...] = ((PLATFORM_TAG, "tap-prod"),)

    def tag_list(self, component: str) -> list[dict[str, str]]:
        """The tags of one component's resources (the composition also tags each with its component)."""
        extra = ((COMPONENT_TAG, component),) if dict(self.tags).get(PLATFORM_TAG) else ()
        return [{"Key": k, "Value": v} for k, v in (*self.tags, *extra)]


def platform_xr() -> dict[str, Any]:
    """tap-prod with its defaults spelled out, plus one table a tenant owns."""
    xr = yaml.safe_load(REFERENCE_PLATFORM.read_text())
    params = defaulted_parameters(xr["spec"]["parameters"])
    params["tables"][TENANT_TABLE] = copy.deepcopy(params["tables"]["audit_logs"])
    xr["spec"]["parameters"] = params
    return xr


class PlatformBuilder:
    def __init__(self, moto: Moto, scenario: Scenario | None = None, names: Names | None = None):
        self.moto, self.scenario, self.names = moto, scenario or Scenario(), names or Names()
        self.session = moto.session()
        self.xr = platform_xr()
        self.params = self.xr["spec"]["parameters"]
        self.random = random.Random(self.scenario.seed)
        self.points: dict[str, list[Any]] = {}

    def client(self, service: str, region: str) -> Any:
        return self.session.client(service, region_name=region, endpoint_url=self.moto.url)

    def build(self) -> dict[str, Any]:
        """Create everything; returns the TapPlatform to analyse."""
        for key in sorted(self.params["tables"]):
            self._table(key)
        self._fleet()
        self._cache()
        self._database()
        self._costs()
        for region, data in self.points.items():
            self.moto.cloudwatch_backend(region).metric_data.extend(data)
        return self.xr

    # --- metrics -------------------------------------------------------------------------------
    def _hours(self) -> list[dt.datetime]:
        midnight = NOW.replace(hour=0)
        step = self.scenario.hours_per_point
        return [midnight - dt.timedelta(hours=h) for h in range(step, self.scenario.days * 24 + 1, step)]

    def gauge(self, region: str, namespace: str, name: str, dims: dict[str, str], level: float,
              spread: float = 0.2) -> None:
        """Raw datapoints around `level` (never below 0) every `hours_per_point` hours."""
        out = self.points.setdefault(region, [])
        dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
        for stamp in self._hours():
            value = max(0.0, level * (1 + self.random.uniform(-spread, spread)))
            out.append(MetricDatum(namespace, name, value, dimensions, stamp))

    def requests(self, region: str, namespace: str, name: str, dims: dict[str, str], per_point: int,
                 stamps: list[dt.datetime] | None = None) -> None:
        """Statistic sets: `per_point` requests of 1 unit each at each stamp."""
        out = self.points.setdefault(region, [])
        dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
        for stamp in stamps if stamps is not None else self._hours():
            out.append(MetricAggregatedDatum(namespace, name, 1.0, 1.0, float(per_point), float(per_point),
                                             dimensions, stamp))

    # --- DynamoDB ------------------------------------------------------------------------------
    def _table(self, key: str) -> None:
        spec, region, name = self.params["tables"][key], self.params["region"], f"{self.names.prefix}-{key}"
        ddb = self.client("dynamodb", region)
        attrs = {spec["hashKey"], spec.get("rangeKey")} | {k for i in spec["globalSecondaryIndexes"].values()
                                                          for k in (i["hashKey"], i.get("rangeKey"))}
        table = ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": spec["hashKey"], "KeyType": "HASH"},
                       {"AttributeName": spec["rangeKey"], "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in sorted(attrs - {None})],
            GlobalSecondaryIndexes=[{"IndexName": n, "Projection": {"ProjectionType": "ALL"},
                                     "KeySchema": [{"AttributeName": i["hashKey"], "KeyType": "HASH"},
                                                   {"AttributeName": i["rangeKey"], "KeyType": "RANGE"}]}
                                    for n, i in spec["globalSecondaryIndexes"].items()],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            Tags=self.names.tag_list("table"))["TableDescription"]
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": spec["pointInTimeRecovery"]})
        if key == TENANT_TABLE:
            ddb.tag_resource(ResourceArn=table["TableArn"], Tags=[{"Key": "TenantId", "Value": "acme"}])
        self._table_metrics(key, name, region, spec, table)

    def _table_metrics(self, key: str, name: str, region: str, spec: dict[str, Any], table: dict[str, Any]) -> None:
        s = self.scenario
        for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"):
            self.requests(region, "AWS/DynamoDB", metric, {"TableName": name}, 5_000)
        for index in spec["globalSecondaryIndexes"]:
            dims = {"TableName": name, "GlobalSecondaryIndexName": index}
            idle = (key, index) in s.idle_indexes or key == TENANT_TABLE
            # An idle index: one read on a few days (3 a week at most); a busy one: 300 an hour.
            stamps = self._hours()[::56] if idle else None
            self.requests(region, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims, 1 if idle else 300, stamps)
            self.requests(region, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, 20_000)
        stream = {"Operation": "GetRecords", "StreamLabel": table["LatestStreamLabel"], "TableName": name}
        if key in s.read_streams:
            self.requests(region, "AWS/DynamoDB", "SuccessfulRequestLatency", stream, 120)
        if key in s.lambda_streams:
            self._lambda_consumer(region, table["LatestStreamArn"])
        if key in s.kinesis_streams:
            KINESIS_DESTINATIONS[(region, name)] = [{"StreamArn": f"arn:aws:kinesis:{region}:123456789012:stream/x",
                                                     "DestinationStatus": "ACTIVE"}]

    def _lambda_consumer(self, region: str, stream_arn: str) -> None:
        role = self.client("iam", region).create_role(RoleName=f"consumer-{self.random.randrange(10**6)}",
                                                      AssumeRolePolicyDocument=json.dumps({}))["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", "def handle(event, context):\n    return None\n")
        lam = self.client("lambda", region)
        name = f"audit-consumer-{self.random.randrange(10**6)}"
        lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler="handler.handle",
                            Code={"ZipFile": code.getvalue()})
        lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=name, StartingPosition="LATEST")

    # --- compute -------------------------------------------------------------------------------
    def _fleet(self) -> None:
        region, compute, s, name = self.params["region"], self.params["compute"], self.scenario, self.names.asg
        ec2 = self.client("ec2", region)
        ec2.create_launch_template(LaunchTemplateName=name,
                                   LaunchTemplateData={"InstanceType": compute["instanceType"],
                                                       "ImageId": "ami-12c6146b"})
        self.client("autoscaling", region).create_auto_scaling_group(
            AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": name},
            MinSize=0, MaxSize=compute["maxSize"], DesiredCapacity=0, AvailabilityZones=[f"{region}a"],
            HealthCheckType="ELB", HealthCheckGracePeriod=compute["healthCheckGraceSeconds"],
            Tags=[{**tag, "PropagateAtLaunch": True} for tag in self.names.tag_list("compute")])
        # moto launches real (fake) instances for a desired capacity: record the reference sizes after.
        self.client("autoscaling", region).update_auto_scaling_group(
            AutoScalingGroupName=name, MinSize=compute["minSize"], DesiredCapacity=compute["desiredCapacity"])
        dims = {"AutoScalingGroupName": name}
        self.gauge(region, "AWS/EC2", "CPUUtilization", dims, s.fleet_cpu)
        self.gauge(region, "AWS/EC2", "NetworkIn", dims, s.fleet_network_bytes)
        self.gauge(region, "AWS/EC2", "NetworkOut", dims, s.fleet_network_bytes)
        # the group metrics the composition enables: its desired capacity in service in every hour
        # (written without the random source, which would move every figure drawn after it)
        in_service = float(compute["desiredCapacity"])
        self.points.setdefault(region, []).extend(
            MetricDatum("AWS/AutoScaling", "GroupInServiceInstances", in_service,
                        [{"Name": "AutoScalingGroupName", "Value": name}], stamp) for stamp in self._hours())

    def _cache(self) -> None:
        region, cache, s = self.params["region"], self.params["cache"], self.scenario
        client = self.client("elasticache", region)
        client.create_replication_group(
            ReplicationGroupId=self.names.cache, ReplicationGroupDescription=self.names.prefix, Engine="redis",
            EngineVersion=cache["engineVersion"], CacheNodeType=cache["nodeType"], NumNodeGroups=cache["shards"],
            ReplicasPerNodeGroup=cache["replicasPerShard"], SnapshotRetentionLimit=cache["snapshotRetentionDays"],
            AutomaticFailoverEnabled=True, Tags=self.names.tag_list("cache"), **self.cache_placement())
        group = client.describe_replication_groups(ReplicationGroupId=self.names.cache)["ReplicationGroups"][0]
        nodes = {m["CacheClusterId"] for g in group["NodeGroups"] for m in g["NodeGroupMembers"]}
        for node in sorted(nodes):
            dims = {"CacheClusterId": node}
            self.gauge(region, "AWS/ElastiCache", "EngineCPUUtilization", dims, s.cache_cpu)
            self.gauge(region, "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", dims, s.cache_memory, 0.05)
            self.gauge(region, "AWS/ElastiCache", "GetTypeCmds", dims, s.cache_commands)
            self.gauge(region, "AWS/ElastiCache", "SetTypeCmds", dims, s.cache_commands)

    # --- Aurora --------------------------------------------------------------------------------
    def _database(self) -> None:
        region, db, s = self.params["region"], self.params["database"], self.scenario
        rds, names = self.client("rds", region), self.names
        rds.create_global_cluster(GlobalClusterIdentifier=names.global_cluster, Engine="aurora-mysql",
                                  EngineVersion=db["engineVersion"])
        rds.create_db_cluster(DBClusterIdentifier=names.cluster, Engine="aurora-mysql",
                              EngineVersion=db["engineVersion"], MasterUsername="tap_admin",
                              MasterUserPassword="not-a-secret-1", GlobalClusterIdentifier=names.global_cluster,
                              BackupRetentionPeriod=db["backupRetentionDays"],
                              PreferredBackupWindow=db["preferredBackupWindow"],
                              PreferredMaintenanceWindow=db["preferredMaintenanceWindow"],
                              EnableCloudwatchLogsExports=db["logExports"], Tags=names.tag_list("database-cluster"),
                              **self.primary_placement())
        self.cluster_created(region, names.cluster)
        dims = {"DBClusterIdentifier": names.cluster}
        self.gauge(region, "AWS/RDS", "CPUUtilization", {**dims, "Role": "WRITER"}, s.writer_cpu)
        self.gauge(region, "AWS/RDS", "DatabaseConnections", {**dims, "Role": "WRITER"}, s.writer_connections)
        self.gauge(region, "AWS/RDS", "CPUUtilization", {**dims, "Role": "READER"}, s.reader_cpu)
        self.gauge(region, "AWS/RDS", "DatabaseConnections", {**dims, "Role": "READER"}, s.reader_connections)
        self.gauge(region, "AWS/RDS", "AuroraReplicaLagMaximum", dims, s.replica_lag_ms)
        self.gauge(region, "AWS/RDS", "ReadIOPS", dims, s.read_iops)
        self.gauge(region, "AWS/RDS", "WriteIOPS", dims, s.write_iops)
        self.gauge(region, "AWS/RDS", "TotalBackupStorageBilled", dims, s.backup_bytes, 0.01)
        for secondary in db["secondaryRegions"]:
            other = secondary["region"]
            identifier = names.secondary.format(region=other)
            self.client("rds", other).create_db_cluster(
                DBClusterIdentifier=identifier, Engine="aurora-mysql", EngineVersion=db["engineVersion"],
                GlobalClusterIdentifier=names.global_cluster, Tags=names.tag_list("database-secondary"),
                **self.secondary_placement(secondary))
            self.cluster_created(other, identifier)
            selects = s.secondary_selects.get(other, 0.0)
            dims = {"DBClusterIdentifier": identifier}
            self.gauge(other, "AWS/RDS", "SelectThroughput", dims, selects, 0.0)
            self.gauge(other, "AWS/RDS", "DatabaseConnections", dims, 3.0 if selects else 0.0, 0.0)

    def cluster_created(self, region: str, identifier: str) -> None:
        """A hook for what else a cluster has (its instances); the analysis needs nothing more."""

    def cache_placement(self) -> dict[str, Any]:
        """How the Redis group is encrypted; the analysis needs none."""
        return {}

    def primary_placement(self) -> dict[str, Any]:
        """Where the primary cluster runs (its subnet group); the analysis needs no placement."""
        return {}

    def secondary_placement(self, secondary: dict[str, Any]) -> dict[str, Any]:
        """Where a secondary cluster runs (its subnet group); the analysis needs no placement."""
        return {}

    # --- Cost Explorer -------------------------------------------------------------------------
    def _costs(self) -> None:
        services = {"Amazon Relational Database Service": 21_500.0, "Amazon ElastiCache": 14_300.0,
                    "Amazon Elastic Compute Cloud - Compute": 16_800.0, "Amazon DynamoDB": 2_100.0}
        month = {"TimePeriod": {"Start": "2026-10-01", "End": "2026-11-01"}, "Estimated": False,
                 "Total": {"UnblendedCost": {"Amount": str(sum(services.values())), "Unit": "USD"}},
                 "Groups": [{"Keys": [k], "Metrics": {"UnblendedCost": {"Amount": str(v), "Unit": "USD"}}}
                            for k, v in services.items()]}
        self.moto.queue_costs([{"ResultsByTime": [month]}])

"""What runs in AWS, as plain data: read by live.py, turned into a TapPlatform by platform.py and
compared with the rendered platform by check.py, so both can be tested with literals."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LiveIndex:
    """A global secondary index."""

    hash_key: str
    range_key: str | None
    projection: str


@dataclass(frozen=True)
class LiveTable:
    """A DynamoDB table as DescribeTable and DescribeContinuousBackups show it."""

    name: str
    hash_key: str
    range_key: str | None
    attribute_types: dict[str, str]
    billing_mode: str
    indexes: dict[str, LiveIndex]
    stream_view_type: str | None  # None: no stream
    point_in_time_recovery: bool
    tenant: str | None = None  # its TenantId tag
    local_indexes: tuple[str, ...] = ()  # local secondary indexes, by name
    ttl_attribute: str | None = None  # None: time to live disabled
    table_class: str = "STANDARD"
    replica_regions: tuple[str, ...] = ()  # a global table's replicas


@dataclass(frozen=True)
class LiveCache:
    """A Redis replication group."""

    group_id: str
    node_type: str
    engine_version: str
    shards: int
    replicas_per_shard: int
    snapshot_retention_days: int
    cluster_mode: bool
    replica_counts: tuple[int, ...] = ()  # each shard's, when they differ (replicas_per_shard is the most)
    engine: str = "redis"
    subnet_group: str | None = None  # None: not read
    at_rest_encryption: bool | None = None  # None: not read
    transit_encryption: bool | None = None
    kms_key: str | None = None  # the id of the key encrypting it at rest


@dataclass(frozen=True)
class LiveInstance:
    """An Aurora instance of a cluster."""

    identifier: str
    instance_class: str
    writer: bool
    performance_insights: bool
    monitoring_interval: int


@dataclass(frozen=True)
class LiveCluster:
    """An Aurora cluster: the primary, or a secondary region's member of the global database."""

    identifier: str
    region: str
    engine_version: str
    instances: tuple[LiveInstance, ...]
    backup_retention_days: int = 0
    backup_window: str = ""
    maintenance_window: str = ""
    log_exports: tuple[str, ...] = ()
    vpc_cidr: str | None = None  # a secondary's VPC
    serverless_capacity: tuple[float, float] | None = None  # Serverless v2 (min, max) ACUs, if set
    subnet_group: str | None = None  # its DB subnet group (None: not read)
    storage_encrypted: bool | None = None  # None: not read
    kms_key: str | None = None  # the id of the key its storage is encrypted with


@dataclass(frozen=True)
class LiveFleet:
    """An Auto Scaling group and what its launch template launches."""

    name: str
    min_size: int
    max_size: int
    desired: int
    health_check_grace_seconds: int
    health_check_type: str
    instance_type: str | None
    image_id: str | None
    overrides: tuple[str, ...] = ()  # a mixed instances policy's instance types
    on_demand_percent: int = 100  # a mixed instances policy's on-demand share above its base
    launch_configuration: str | None = None  # launched from one, not from a launch template


@dataclass(frozen=True)
class LiveSubnet:
    subnet_id: str
    tier: str  # public, private or isolated
    zone: str  # the availability zone's letter
    cidr: str


@dataclass(frozen=True)
class LiveNetwork:
    vpc_id: str
    cidr: str
    subnets: tuple[LiveSubnet, ...] = ()
    nat_gateways: int | None = None  # None: not read


@dataclass(frozen=True)
class Live:
    """One platform's resources in its primary region (and its database's secondary regions)."""

    region: str
    tables: tuple[LiveTable, ...] = ()
    cache: LiveCache | None = None
    global_cluster: str | None = None
    primary: LiveCluster | None = None
    secondaries: tuple[LiveCluster, ...] = ()
    fleet: LiveFleet | None = None
    network: LiveNetwork | None = None
    kms_key: str | None = None
    kms_alias: str | None = None  # alias/<name>
    load_balancer: str | None = None  # its ARN
    target_groups: dict[str, str] = field(default_factory=dict)  # api, admin, metrics -> ARN
    security_groups: dict[str, str] = field(default_factory=dict)  # composition key (sg-app ...) -> id
    unmodelled: tuple[str, ...] = ()  # resources found that the composition has no place for

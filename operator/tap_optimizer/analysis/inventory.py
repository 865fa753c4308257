"""What discovery found in AWS: the platform's resources per region, as plain data.

The rules read these, never boto3 responses, so they can be tested with literals.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    """A DynamoDB table of the platform. `key` is its name under `spec.parameters.tables`."""

    key: str
    name: str
    region: str
    arn: str
    indexes: dict[str, int | None]        # index name -> IndexSizeBytes (None when AWS gave none)
    stream_arn: str | None = None
    stream_label: str | None = None
    lambda_consumers: tuple[str, ...] = ()   # function ARNs of event source mappings on the stream
    kinesis_destinations: tuple[str, ...] = ()  # active Kinesis streaming destinations


@dataclass(frozen=True)
class Fleet:
    """The application's Auto Scaling group."""

    name: str
    region: str
    arn: str
    instance_type: str
    min_size: int
    desired: int
    max_size: int


@dataclass(frozen=True)
class Cache:
    """The Redis replication group and its nodes (CacheClusterIds, the metrics' dimension)."""

    group_id: str
    region: str
    arn: str
    node_type: str
    shards: int
    replicas_per_shard: int
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    """An Aurora cluster of the global database: the primary or a secondary region's."""

    identifier: str
    region: str
    arn: str
    primary: bool
    backup_retention_days: int = 0
    instance_classes: tuple[str, ...] = ()   # writer first for the primary


@dataclass(frozen=True)
class Tenanted:
    """A resource carrying a TenantId tag: never changed, reported."""

    arn: str
    region: str
    tenant: str


@dataclass(frozen=True)
class Inventory:
    platform: str
    namespace: str
    region: str                               # the TapPlatform's own region
    parameters: dict
    tables: tuple[Table, ...] = ()
    fleets: tuple[Fleet, ...] = ()
    caches: tuple[Cache, ...] = ()
    clusters: tuple[Cluster, ...] = ()
    tenanted: tuple[Tenanted, ...] = ()
    missing: tuple[str, ...] = field(default=())  # expected resources AWS does not have

    def tenant_of(self, arn: str) -> str | None:
        """The TenantId of a resource (or of the table an index or stream ARN belongs to)."""
        for t in self.tenanted:
            if arn == t.arn or arn.startswith(t.arn + "/"):
                return t.tenant
        return None

    @property
    def primary(self) -> Cluster | None:
        return next((c for c in self.clusters if c.primary), None)

    @property
    def secondaries(self) -> tuple[Cluster, ...]:
        return tuple(c for c in self.clusters if not c.primary)

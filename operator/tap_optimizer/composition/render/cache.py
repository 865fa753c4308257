"""Redis in cluster mode: one replication group with its subnet and parameter groups.

Node type and shard count are fields of the one `cache-replication-group` object, so changing
either is an in-place update (ElastiCache resizes or reshards online), never a new group.
"""

from __future__ import annotations

from tap_optimizer.composition.render.common import Platform, Resources, managed, zones

REDIS_PORT = 6379


def replication_group_id(platform: Platform) -> str:
    """The group's AWS id (at most 40 characters); its CloudWatch metrics are keyed by it."""
    return platform.aws_name("cache-replication-group", f"{platform.name}-cache")


def parameter_group_name(platform: Platform) -> str:
    """The parameter group's AWS name. ReplicationGroup has no reference field to a parameter
    group, so the group is named explicitly and the replication group uses that name."""
    return f"{platform.name}-{_family(platform)}"


def _family(platform: Platform) -> str:
    """`redis7` for engine version 7.x: the family of parameter groups of a major version."""
    return f"redis{platform.params['cache']['engineVersion'].split('.')[0]}"


def render_cache(platform: Platform) -> Resources:
    return {**_subnet_group(platform), **_parameter_group(platform), **_replication_group(platform)}


def _subnet_group(platform: Platform) -> Resources:
    return {"cache-subnet-group": managed(platform, "cache-subnet-group", "elasticache/SubnetGroup", {
        "description": f"TAP {platform.name}: private subnets of Redis",
        "subnetIdRefs": [platform.ref(f"subnet-private-{z}") for z in zones(platform)],
    }, component="cache")}


def _parameter_group(platform: Platform) -> Resources:
    return {"cache-parameter-group": managed(platform, "cache-parameter-group", "elasticache/ParameterGroup", {
        "name": parameter_group_name(platform),
        "family": _family(platform),
        "description": f"TAP {platform.name}: Redis in cluster mode",
        "parameter": [{"name": "cluster-enabled", "value": "yes"}],
    }, component="cache")}


def _replication_group(platform: Platform) -> Resources:
    cache = platform.params["cache"]
    auth = cache["authTokenSecretRef"]
    return {"cache-replication-group": managed(platform, "cache-replication-group", "elasticache/ReplicationGroup", {
        "description": f"TAP {platform.name} cache",
        "engine": "redis",
        "engineVersion": cache["engineVersion"],
        "nodeType": cache["nodeType"],
        "port": REDIS_PORT,
        "clusterMode": "enabled",
        "numNodeGroups": cache["shards"],
        "replicasPerNodeGroup": cache["replicasPerShard"],
        "automaticFailoverEnabled": True,
        "multiAzEnabled": True,
        "atRestEncryptionEnabled": "true",  # a string in upjet's schema
        "transitEncryptionEnabled": True,
        "kmsKeyIdRef": platform.ref("kms-key"),
        "authTokenSecretRef": {"name": auth["name"], "key": auth["key"]},
        "snapshotRetentionLimit": cache["snapshotRetentionDays"],
        "securityGroupIdRefs": [platform.ref("sg-cache")],
        "subnetGroupNameRef": platform.ref("cache-subnet-group"),
        "parameterGroupName": parameter_group_name(platform),
        "applyImmediately": platform.params["applyImmediately"],
    }, component="cache", external_name=replication_group_id(platform))}

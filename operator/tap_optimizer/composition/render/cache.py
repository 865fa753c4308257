"""Redis 7 in cluster mode: one replication group whose node type and shard count change in
place (the same object), with its subnet and parameter groups."""

from __future__ import annotations

from tap_optimizer.composition.render.common import Platform, Resources, managed, zones


def parameter_group_name(platform: Platform) -> str:
    return f"{platform.name}-redis{platform.params['cache']['engineVersion'].split('.')[0]}"


def replication_group_id(platform: Platform) -> str:
    """The group's AWS id (at most 40 characters); its CloudWatch metrics are keyed by it."""
    return f"{platform.name}-cache"


def render_cache(platform: Platform) -> Resources:
    cache = platform.params["cache"]
    major = cache["engineVersion"].split(".")[0]
    return {
        "cache-subnet-group": managed(platform, "cache-subnet-group", "elasticache/SubnetGroup", {
            "description": f"TAP {platform.name}: private subnets of Redis",
            "subnetIdRefs": [platform.ref(f"subnet-private-{z}") for z in zones(platform)],
        }, component="cache"),
        "cache-parameter-group": managed(platform, "cache-parameter-group", "elasticache/ParameterGroup", {
            "name": parameter_group_name(platform),
            "family": f"redis{major}",
            "description": f"TAP {platform.name}: Redis {major} in cluster mode",
            "parameter": [{"name": "cluster-enabled", "value": "yes"}],
        }, component="cache"),
        "cache-replication-group": managed(platform, "cache-replication-group", "elasticache/ReplicationGroup", {
            "description": f"TAP {platform.name} cache",
            "engine": "redis",
            "engineVersion": cache["engineVersion"],
            "nodeType": cache["nodeType"],
            "clusterMode": "enabled",
            "numNodeGroups": cache["shards"],
            "replicasPerNodeGroup": cache["replicasPerShard"],
            "automaticFailoverEnabled": True,
            "multiAzEnabled": True,
            "atRestEncryptionEnabled": "true",
            "transitEncryptionEnabled": True,
            "kmsKeyIdRef": platform.ref("kms-key"),
            "authTokenSecretRef": dict(cache["authTokenSecretRef"]),
            "snapshotRetentionLimit": cache["snapshotRetentionDays"],
            "securityGroupIdRefs": [platform.ref("sg-cache")],
            "subnetGroupNameRef": platform.ref("cache-subnet-group"),
            "parameterGroupName": parameter_group_name(platform),
            "applyImmediately": platform.params["applyImmediately"],
            "port": 6379,
        }, component="cache", external_name=replication_group_id(platform)),
    }

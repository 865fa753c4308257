"""The Aurora MySQL global database: the primary cluster with its writer and readers in this
region, and a read-only secondary cluster in each of `database.secondaryRegions`.

Readers are `database-reader-0..N-1`, so lowering readerCount removes the highest-numbered
readers only. Secondary regions are keyed by region, so removing one leaves the others alone.
Instance-class changes are plain updates of `instanceClass`, which the provider applies in place.
"""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import Platform, Resources, assume_role_policy, managed
from tap_optimizer.composition.render.network import render_subnets, render_vpc
from tap_optimizer.composition.render.security import render_kms

ENGINE = "aurora-mysql"
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"


def cluster_identifier(platform: Platform) -> str:
    """The primary cluster's AWS identifier; its CloudWatch metrics are keyed by it."""
    return f"{platform.name}-database-cluster"


def global_identifier(platform: Platform) -> str:
    return f"{platform.name}-global"


def render_database(platform: Platform) -> Resources:
    db = platform.params["database"]
    out = {**_shared(platform), **_primary(platform)}
    out["database-writer"] = _instance(platform, "database-writer", db["writerInstanceClass"], tier=0)
    for index in range(db["readerCount"]):
        key = f"database-reader-{index}"
        out[key] = _instance(platform, key, db["readerInstanceClass"], tier=1, component="database-reader")
    for secondary in db["secondaryRegions"]:
        out.update(_secondary(platform, secondary))
    return out


def _shared(platform: Platform) -> Resources:
    db = platform.params["database"]
    out = {
        "database-global": managed(platform, "database-global", "rds/GlobalCluster", {
            "engine": ENGINE, "engineVersion": db["engineVersion"], "storageEncrypted": True,
            "deletionProtection": True,
        }, component="database-cluster", external_name=global_identifier(platform)),
        "database-subnet-group": _subnet_group(platform, "database-subnet-group",
                                               [f"subnet-isolated-{z}" for z in platform.params["network"]
                                                ["availabilityZones"]]),
        "database-parameter-group": managed(platform, "database-parameter-group", "rds/ClusterParameterGroup", {
            "family": "aurora-mysql8.0",
            "description": f"TAP {platform.name}: connections and slow query log",
            "parameter": [
                {"name": "max_connections", "value": str(db["maxConnections"]), "applyMethod": "pending-reboot"},
                {"name": "slow_query_log", "value": "1", "applyMethod": "immediate"},
                {"name": "long_query_time", "value": "2", "applyMethod": "immediate"},
            ],
        }, component="database-cluster"),
    }
    if db["monitoringIntervalSeconds"]:
        out["database-monitoring-role"] = managed(platform, "database-monitoring-role", "iam/Role", {
            "assumeRolePolicy": assume_role_policy("monitoring.rds.amazonaws.com"),
            "description": f"RDS enhanced monitoring of TAP platform {platform.name}",
        }, component="database-cluster")
        out["database-monitoring-policy"] = managed(platform, "database-monitoring-policy",
                                                    "iam/RolePolicyAttachment", {
            "roleRef": platform.ref("database-monitoring-role"), "policyArn": MONITORING_POLICY,
        }, component="database-cluster", tagged=False)
    return out


def _subnet_group(platform: Platform, key: str, subnets: list[str], region: str | None = None) -> dict[str, Any]:
    return managed(platform, key, "rds/SubnetGroup", {
        "description": f"TAP {platform.name}: isolated subnets of the database",
        "subnetIdRefs": [platform.ref(s) for s in subnets],
    }, component="database-cluster", region=region)


def _primary(platform: Platform) -> Resources:
    db = platform.params["database"]
    return {"database-cluster": managed(platform, "database-cluster", "rds/Cluster", {
        "engine": ENGINE,
        "engineVersion": db["engineVersion"],
        "globalClusterIdentifier": global_identifier(platform),
        "masterUsername": "tap_admin",
        "manageMasterUserPassword": True,
        "backupRetentionPeriod": db["backupRetentionDays"],
        "preferredBackupWindow": db["preferredBackupWindow"],
        "preferredMaintenanceWindow": db["preferredMaintenanceWindow"],
        "enabledCloudwatchLogsExports": list(db["logExports"]),
        "storageEncrypted": True,
        "kmsKeyIdRef": platform.ref("kms-key"),
        "vpcSecurityGroupIdRefs": [platform.ref("sg-database")],
        "dbSubnetGroupNameRef": platform.ref("database-subnet-group"),
        "dbClusterParameterGroupNameRef": platform.ref("database-parameter-group"),
        "applyImmediately": platform.params["applyImmediately"],
        "deletionProtection": True,
        "copyTagsToSnapshot": True,
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": f"{cluster_identifier(platform)}-final",
    }, component="database-cluster", external_name=cluster_identifier(platform))}


def _instance(platform: Platform, key: str, instance_class: str, tier: int,
              component: str = "database-writer") -> dict[str, Any]:
    db = platform.params["database"]
    spec: dict[str, Any] = {
        "clusterIdentifierRef": platform.ref("database-cluster"),
        "instanceClass": instance_class,
        "engine": ENGINE,
        "dbSubnetGroupNameRef": platform.ref("database-subnet-group"),
        "performanceInsightsEnabled": db["performanceInsights"],
        "monitoringInterval": db["monitoringIntervalSeconds"],
        "promotionTier": tier,
        "applyImmediately": platform.params["applyImmediately"],
        "publiclyAccessible": False,
    }
    if db["monitoringIntervalSeconds"]:
        spec["monitoringRoleArnRef"] = platform.ref("database-monitoring-role")
    return managed(platform, key, "rds/ClusterInstance", spec, component=component)


def _secondary(platform: Platform, secondary: dict[str, Any]) -> Resources:
    """A read-only member of the global cluster, with what it needs in its own region."""
    region = secondary["region"]
    prefix = f"secondary-{region}-"
    zones = platform.params["network"]["availabilityZones"]
    out = {
        **render_kms(platform, prefix=prefix, region=region),
        **render_vpc(platform, f"{prefix}vpc", secondary["vpcCidr"], region=region),
        **render_subnets(platform, f"{prefix}vpc", secondary["vpcCidr"], ("isolated",), prefix=prefix,
                         region=region),
        f"{prefix}subnet-group": _subnet_group(platform, f"{prefix}subnet-group",
                                               [f"{prefix}subnet-isolated-{z}" for z in zones], region=region),
        f"{prefix}sg": managed(platform, f"{prefix}sg", "ec2/SecurityGroup", {
            "description": f"TAP {platform.name}: Aurora secondary in {region} (no ingress)",
            "vpcIdRef": platform.ref(f"{prefix}vpc"), "revokeRulesOnDelete": True,
        }, component="database-secondary", region=region),
        f"{prefix}cluster": managed(platform, f"{prefix}cluster", "rds/Cluster", {
            "engine": ENGINE,
            "engineVersion": platform.params["database"]["engineVersion"],
            "globalClusterIdentifier": global_identifier(platform),
            "storageEncrypted": True,
            "kmsKeyIdRef": platform.ref(f"{prefix}kms-key"),
            "dbSubnetGroupNameRef": platform.ref(f"{prefix}subnet-group"),
            "vpcSecurityGroupIdRefs": [platform.ref(f"{prefix}sg")],
            "applyImmediately": platform.params["applyImmediately"],
            "skipFinalSnapshot": True,
        }, component="database-secondary", region=region),
    }
    for index in range(secondary["instanceCount"]):
        out[f"{prefix}instance-{index}"] = managed(platform, f"{prefix}instance-{index}", "rds/ClusterInstance", {
            "clusterIdentifierRef": platform.ref(f"{prefix}cluster"),
            "instanceClass": secondary["instanceClass"],
            "engine": ENGINE,
            "dbSubnetGroupNameRef": platform.ref(f"{prefix}subnet-group"),
            "applyImmediately": platform.params["applyImmediately"],
            "publiclyAccessible": False,
        }, component="database-secondary", region=region)
    return out

"""The Aurora MySQL global database: the primary cluster with its writer and readers in this
region, and a read-only secondary cluster in each of `database.secondaryRegions`.

Keys are what keeps a change in place: readers are `database-reader-0..N-1`, so lowering
readerCount drops the highest-numbered readers only, and a secondary region's objects are keyed by
its region (`secondary-<region>-...`), so removing one region leaves the others untouched.
Instance-class changes are plain updates of `instanceClass`, which the provider applies in place;
nothing that would force a replacement (availability zone, identifiers) is set on an instance.

The primary and each secondary have the same shape under a key prefix (`database-` for the
primary, `secondary-<region>-` for a secondary): `<prefix>cluster`, `<prefix>subnet-group`, and
their instances; the helpers below take that prefix.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tap_optimizer.composition.render.common import (
    Platform,
    Resources,
    managed,
    service_role,
    zones,
)

ENGINE = "aurora-mysql"
PARAMETER_FAMILY = "aurora-mysql8.0"
MASTER_USERNAME = "tap_admin"
MONITORING_POLICY = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
PRIMARY = "database-"
KEY_DELETION_WINDOW_DAYS = 30
SUBNET_ADDRESSES = 2 ** (32 - 24)  # a secondary region's subnets are /24s


def cluster_identifier(platform: Platform) -> str:
    """The primary cluster's AWS identifier; its CloudWatch metrics are keyed by it."""
    return platform.aws_name("database-cluster", f"{platform.name}-database-cluster")


def global_identifier(platform: Platform) -> str:
    """The global cluster's AWS identifier. rds/Cluster has no reference field to a
    GlobalCluster, so members name it by this identifier, fixed by its external name."""
    return platform.aws_name("database-global", f"{platform.name}-global")


def secondary_prefix(region: str) -> str:
    return f"secondary-{region}-"


def render_database(platform: Platform) -> Resources:
    db = platform.params["database"]
    out = {
        **_global(platform),
        **_subnet_group(platform, PRIMARY, [f"subnet-isolated-{z}" for z in zones(platform)]),
        **_parameter_group(platform),
        **_monitoring(platform),
        **_primary_cluster(platform),
        **_instance(platform, PRIMARY, "database-writer", db["writerInstanceClass"], tier=0,
                    component="database-writer"),
    }
    for index in range(db["readerCount"]):
        out.update(_instance(platform, PRIMARY, f"database-reader-{index}", db["readerInstanceClass"], tier=1,
                             component="database-reader"))
    for secondary in db["secondaryRegions"]:
        out.update(_secondary(platform, secondary))
    return out


def _global(platform: Platform) -> Resources:
    db = platform.params["database"]
    return {"database-global": managed(platform, "database-global", "rds/GlobalCluster", {
        "engine": ENGINE,
        "engineVersion": db["engineVersion"],
        "storageEncrypted": True,
        "deletionProtection": True,
    }, component="database-cluster", external_name=global_identifier(platform))}


def _subnet_group(platform: Platform, prefix: str, subnets: list[str], region: str | None = None) -> Resources:
    key = f"{prefix}subnet-group"
    return {key: managed(platform, key, "rds/SubnetGroup", {
        "description": f"TAP {platform.name}: isolated subnets of the database",
        "subnetIdRefs": [platform.ref(s) for s in subnets],
    }, component=_component(prefix), region=region)}


def _parameter_group(platform: Platform) -> Resources:
    """max_connections, slow_query_log and long_query_time are dynamic in Aurora MySQL 3, so they
    apply `immediate`ly (a static parameter would need `pending-reboot`)."""
    db = platform.params["database"]
    values = {"max_connections": db["maxConnections"], "slow_query_log": 1, "long_query_time": 2}
    return {"database-parameter-group": managed(platform, "database-parameter-group", "rds/ClusterParameterGroup", {
        "family": PARAMETER_FAMILY,
        "description": f"TAP {platform.name}: connections and slow query log",
        "parameter": [{"name": n, "value": str(v), "applyMethod": "immediate"} for n, v in values.items()],
    }, component="database-cluster")}


def _monitoring(platform: Platform) -> Resources:
    """The enhanced-monitoring role. Rendered whatever the interval, so turning monitoring off
    and on again only changes the instances' reference, never creates or deletes IAM objects."""
    return {
        "database-monitoring-role": service_role(platform, "database-monitoring-role", "monitoring.rds.amazonaws.com",
                                                 "RDS enhanced monitoring", "database-cluster"),
        "database-monitoring-policy": managed(platform, "database-monitoring-policy", "iam/RolePolicyAttachment", {
            "roleRef": platform.ref("database-monitoring-role"),
            "policyArn": MONITORING_POLICY,
        }, component="database-cluster", tagged=False),
    }


def _cluster(platform: Platform, prefix: str, kms_key: str, security_group: str, region: str | None,
             settings: dict[str, Any], external_name: str | None = None) -> Resources:
    """A member of the global cluster, encrypted with `kms_key`, in the `prefix` subnet group."""
    key = f"{prefix}cluster"
    return {key: managed(platform, key, "rds/Cluster", {
        "engine": ENGINE,
        "engineVersion": platform.params["database"]["engineVersion"],
        "globalClusterIdentifier": global_identifier(platform),
        "storageEncrypted": True,
        "kmsKeyIdRef": platform.ref(kms_key),
        "vpcSecurityGroupIdRefs": [platform.ref(security_group)],
        "dbSubnetGroupNameRef": platform.ref(f"{prefix}subnet-group"),
        "applyImmediately": platform.params["applyImmediately"],
        "copyTagsToSnapshot": True,
        **settings,
    }, component=_component(prefix), region=region, external_name=external_name)}


def _primary_cluster(platform: Platform) -> Resources:
    """The writable member: credentials (a secret RDS generates and rotates), backups, logs."""
    db = platform.params["database"]
    return _cluster(platform, PRIMARY, "kms-key", "sg-database", None, {
        "masterUsername": MASTER_USERNAME,
        "manageMasterUserPassword": True,
        "masterUserSecretKmsKeyIdRef": platform.ref("kms-key"),
        "dbClusterParameterGroupNameRef": platform.ref("database-parameter-group"),
        "backupRetentionPeriod": db["backupRetentionDays"],
        "preferredBackupWindow": db["preferredBackupWindow"],
        "preferredMaintenanceWindow": db["preferredMaintenanceWindow"],
        "enabledCloudwatchLogsExports": sorted(db["logExports"]),
        "deletionProtection": True,
        "skipFinalSnapshot": False,
        "finalSnapshotIdentifier": f"{cluster_identifier(platform)}-final",
    }, external_name=cluster_identifier(platform))


def _instance(platform: Platform, prefix: str, key: str, instance_class: str, tier: int, component: str,
              region: str | None = None) -> Resources:
    """An instance of the `prefix` cluster; the monitoring role is IAM, so global, and shared."""
    db = platform.params["database"]
    spec: dict[str, Any] = {
        "clusterIdentifierRef": platform.ref(f"{prefix}cluster"),
        "instanceClass": instance_class,
        "engine": ENGINE,
        "dbSubnetGroupNameRef": platform.ref(f"{prefix}subnet-group"),
        "performanceInsightsEnabled": db["performanceInsights"],
        "monitoringInterval": db["monitoringIntervalSeconds"],
        "promotionTier": tier,
        "applyImmediately": platform.params["applyImmediately"],
        "publiclyAccessible": False,
    }
    if db["monitoringIntervalSeconds"]:
        spec["monitoringRoleArnRef"] = platform.ref("database-monitoring-role")
    return {key: managed(platform, key, "rds/ClusterInstance", spec, component=component, region=region)}


def _secondary(platform: Platform, secondary: dict[str, Any]) -> Resources:
    """A read-only member of the global cluster with what it needs in its own region: a key, an
    isolated VPC (no gateway, no routes out) with a subnet in each of the platform's zone letters,
    a subnet group and a security group without ingress. Reading the secondary from elsewhere
    (peering, ingress rules, an application in that region) is out of scope: it is a standby."""
    region = secondary["region"]
    prefix = secondary_prefix(region)
    out = {
        **_regional(platform, prefix, "kms-key", "kms/Key", {
            "description": f"TAP platform {platform.name} database key ({region})",
            "enableKeyRotation": True,
            "deletionWindowInDays": KEY_DELETION_WINDOW_DAYS,
        }, region),
        **_regional(platform, prefix, "vpc", "ec2/VPC", {
            "cidrBlock": secondary["vpcCidr"],
            "enableDnsHostnames": True,
            "enableDnsSupport": True,
        }, region),
        **_secondary_subnets(platform, prefix, secondary["vpcCidr"], region),
        **_subnet_group(platform, prefix, [f"{prefix}subnet-{z}" for z in zones(platform)], region),
        **_regional(platform, prefix, "sg", "ec2/SecurityGroup", {
            "description": f"TAP {platform.name}: Aurora secondary in {region} (no ingress)",
            "vpcIdRef": platform.ref(f"{prefix}vpc"),
            "revokeRulesOnDelete": True,
        }, region),
        # Removable by design (dropping a region is an optimization), so no deletion protection;
        # its data is the primary's, so no final snapshot.
        **_cluster(platform, prefix, f"{prefix}kms-key", f"{prefix}sg", region, {
            "deletionProtection": False,
            "skipFinalSnapshot": True,
        }),
    }
    for index in range(secondary["instanceCount"]):
        out.update(_instance(platform, prefix, f"{prefix}instance-{index}", secondary["instanceClass"], tier=1,
                             component="database-secondary", region=region))
    return out


def _regional(platform: Platform, prefix: str, name: str, kind: str, for_provider: dict[str, Any],
              region: str) -> Resources:
    key = f"{prefix}{name}"
    return {key: managed(platform, key, kind, for_provider, component="database-secondary", region=region)}


def _secondary_subnets(platform: Platform, prefix: str, vpc_cidr: str, region: str) -> Resources:
    out: Resources = {}
    for zone in zones(platform):
        out.update(_regional(platform, prefix, f"subnet-{zone}", "ec2/Subnet", {
            "vpcIdRef": platform.ref(f"{prefix}vpc"),
            "cidrBlock": _zone_cidr(vpc_cidr, zone),
            "availabilityZone": f"{region}{zone}",
            "mapPublicIpOnLaunch": False,
        }, region))
    return out


def _zone_cidr(vpc_cidr: str, zone: str) -> str:
    """The zone's isolated /24: the VPC's n-th /24 for the n-th letter (a=0, b=1 ...), not for the
    zone's position in the list, so adding or removing a zone never moves another zone's subnet
    (AWS replaces a subnet whose CIDR changes, which fails while a database instance is in it).
    A /21, the smallest VPC allowed, holds zones a to h."""
    vpc = ipaddress.IPv4Network(vpc_cidr)
    slot = ord(zone) - ord("a")
    if slot >= vpc.num_addresses // SUBNET_ADDRESSES:
        raise ValueError(f"database.secondaryRegions: zone {zone!r} has no /24 in the VPC {vpc_cidr}")
    return str(ipaddress.IPv4Network((int(vpc.network_address) + slot * SUBNET_ADDRESSES, 24)))


def _component(prefix: str) -> str:
    return "database-cluster" if prefix == PRIMARY else "database-secondary"


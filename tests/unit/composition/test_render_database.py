"""The Aurora global database renderer: keys, the fields that carry each parameter, and that a
parameter change touches only the objects it should."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tap_optimizer.composition.render.common import EXTERNAL_NAME
from tap_optimizer.composition.render.database import render_database
from tests.unit.composition.conftest import assert_valid, make_platform

WEST = {"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}
EU = {"region": "eu-west-1", "vpcCidr": "10.2.0.0/21", "instanceCount": 2, "instanceClass": "db.r6g.xlarge"}
PRIMARY_KEYS = {
    "database-global", "database-subnet-group", "database-parameter-group", "database-monitoring-role",
    "database-monitoring-policy", "database-cluster", "database-writer",
}
SHARED = re.compile(r"^(kms-key|vpc|subnet-(public|private|isolated)-[a-z]|sg-(alb|app|database|cache))$")


def render(**database) -> dict:
    return render_database(make_platform(database=database))


def secondary_keys(region: str, instances: int) -> set[str]:
    prefix = f"secondary-{region}-"
    fixed = {"kms-key", "vpc", "subnet-a", "subnet-b", "subnet-c", "subnet-group", "sg", "cluster"}
    return {prefix + name for name in fixed} | {f"{prefix}instance-{i}" for i in range(instances)}


def diff(before: dict, after: dict) -> dict[str, set[str]]:
    """Keys added, removed, and present in both but not deeply equal."""
    return {
        "added": set(after) - set(before),
        "removed": set(before) - set(after),
        "modified": {k for k in set(before) & set(after) if before[k] != after[k]},
    }


def references(value) -> list[str]:
    """The object names of every `...Ref`/`...Refs` field, at any depth."""
    found: list[str] = []
    if isinstance(value, dict):
        for field, inner in value.items():
            if field.endswith("Ref") and isinstance(inner, dict) and "key" not in inner:
                found.append(inner["name"])
            elif field.endswith("Refs"):
                found.extend(ref["name"] for ref in inner)
            else:
                found.extend(references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.extend(references(inner))
    return found


def for_provider(resources: dict, key: str) -> dict:
    return resources[key]["spec"]["forProvider"]


@pytest.mark.parametrize("database", [
    {},
    {"secondaryRegions": [WEST, EU]},
    {"readerCount": 0, "monitoringIntervalSeconds": 0, "performanceInsights": False},
    {"writerInstanceClass": "db.serverless", "readerCount": 15, "logExports": ["audit"]},
], ids=["reference defaults", "two secondary regions", "no readers, no monitoring", "serverless writer, 15 readers"])
def test_every_object_validates_against_its_crd(database):
    assert_valid(render(**database))


@pytest.mark.parametrize(("database", "expected"), [
    ({}, PRIMARY_KEYS | {"database-reader-0", "database-reader-1"}),
    ({"readerCount": 0}, PRIMARY_KEYS),
    ({"readerCount": 3}, PRIMARY_KEYS | {f"database-reader-{i}" for i in range(3)}),
    ({"readerCount": 0, "secondaryRegions": [WEST, EU]},
     PRIMARY_KEYS | secondary_keys("us-west-2", 1) | secondary_keys("eu-west-1", 2)),
], ids=["two readers by default", "no readers", "readers are numbered from 0",
        "each secondary region gets its own keyed objects"])
def test_keys_rendered(database, expected):
    assert set(render(**database)) == expected


@pytest.mark.parametrize(("before", "after", "expected"), [
    ({"readerCount": 2}, {"readerCount": 1},
     {"added": set(), "removed": {"database-reader-1"}, "modified": set()}),
    ({"readerCount": 1}, {"readerCount": 2},
     {"added": {"database-reader-1"}, "removed": set(), "modified": set()}),
    ({}, {"writerInstanceClass": "db.r6g.xlarge"},
     {"added": set(), "removed": set(), "modified": {"database-writer"}}),
    ({}, {"readerInstanceClass": "db.r6g.xlarge"},
     {"added": set(), "removed": set(), "modified": {"database-reader-0", "database-reader-1"}}),
    ({}, {"backupRetentionDays": 14},
     {"added": set(), "removed": set(), "modified": {"database-cluster"}}),
    ({}, {"maxConnections": 5000},
     {"added": set(), "removed": set(), "modified": {"database-parameter-group"}}),
    ({}, {"monitoringIntervalSeconds": 0},
     {"added": set(), "removed": set(), "modified": {"database-writer", "database-reader-0", "database-reader-1"}}),
    ({"secondaryRegions": [WEST, EU]}, {"secondaryRegions": []},
     {"added": set(), "removed": secondary_keys("us-west-2", 1) | secondary_keys("eu-west-1", 2),
      "modified": set()}),
    ({"secondaryRegions": [WEST, EU]}, {"secondaryRegions": [EU]},
     {"added": set(), "removed": secondary_keys("us-west-2", 1), "modified": set()}),
    ({"secondaryRegions": [EU]}, {"secondaryRegions": [{**EU, "instanceCount": 1}]},
     {"added": set(), "removed": {"secondary-eu-west-1-instance-1"}, "modified": set()}),
    ({"secondaryRegions": [EU]}, {"secondaryRegions": [{**EU, "instanceClass": "db.r6g.large"}]},
     {"added": set(), "removed": set(),
      "modified": {"secondary-eu-west-1-instance-0", "secondary-eu-west-1-instance-1"}}),
], ids=[
    "readers shrink from the highest index and nothing else changes",
    "readers grow at the next index",
    "writer class touches only the writer",
    "reader class touches only the readers",
    "backup retention touches only the cluster",
    "max connections touches only the parameter group",
    "monitoring off touches only the instances",
    "emptying secondary regions removes exactly their objects",
    "removing the first region keeps the second's objects identical",
    "a secondary's instances shrink from the highest index",
    "a secondary's instance class touches only its instances",
])
def test_a_change_touches_only_what_it_should(before, after, expected):
    assert diff(render(**before), render(**after)) == expected


@pytest.mark.parametrize(("database", "key", "field", "expected"), [
    ({"writerInstanceClass": "db.r7g.2xlarge"}, "database-writer", "instanceClass", "db.r7g.2xlarge"),
    ({"readerInstanceClass": "db.r7g.large"}, "database-reader-1", "instanceClass", "db.r7g.large"),
    ({}, "database-writer", "promotionTier", 0),
    ({}, "database-reader-0", "promotionTier", 1),
    ({"monitoringIntervalSeconds": 15}, "database-reader-0", "monitoringInterval", 15),
    ({"performanceInsights": False}, "database-writer", "performanceInsightsEnabled", False),
    ({"backupRetentionDays": 14}, "database-cluster", "backupRetentionPeriod", 14),
    ({"preferredBackupWindow": "01:00-02:00"}, "database-cluster", "preferredBackupWindow", "01:00-02:00"),
    ({"preferredMaintenanceWindow": "mon:01:00-mon:02:00"}, "database-cluster", "preferredMaintenanceWindow",
     "mon:01:00-mon:02:00"),
    ({"logExports": ["slowquery", "audit"]}, "database-cluster", "enabledCloudwatchLogsExports",
     ["audit", "slowquery"]),
    ({"engineVersion": "8.0.mysql_aurora.3.05.2"}, "database-cluster", "engineVersion", "8.0.mysql_aurora.3.05.2"),
    ({"engineVersion": "8.0.mysql_aurora.3.05.2"}, "database-global", "engineVersion", "8.0.mysql_aurora.3.05.2"),
    ({}, "database-cluster", "manageMasterUserPassword", True),
    ({}, "database-cluster", "storageEncrypted", True),
    ({}, "database-cluster", "deletionProtection", True),
    ({}, "database-global", "engine", "aurora-mysql"),
    ({}, "database-parameter-group", "family", "aurora-mysql8.0"),
], ids=[
    "writer class", "reader class", "the writer is promoted first", "readers are promoted after it",
    "monitoring interval", "performance insights", "backup retention", "backup window", "maintenance window",
    "log exports, in a stable order", "engine version of the cluster", "engine version of the global cluster",
    "generated master secret", "encrypted storage", "deletion protection", "aurora mysql", "parameter family",
])
def test_fields_carry_parameters(database, key, field, expected):
    assert for_provider(render(**database), key)[field] == expected


@pytest.mark.parametrize(("max_connections", "expected"), [
    (10000, {"max_connections": "10000", "slow_query_log": "1", "long_query_time": "2"}),
    (250, {"max_connections": "250", "slow_query_log": "1", "long_query_time": "2"}),
], ids=["reference connections and slow query log", "max connections follows the parameter"])
def test_cluster_parameters(max_connections, expected):
    parameters = for_provider(render(maxConnections=max_connections), "database-parameter-group")["parameter"]
    assert {p["name"]: p["value"] for p in parameters} == expected


@pytest.mark.parametrize(("interval", "referenced"), [(30, True), (1, True), (0, False)],
                         ids=["monitoring on refers to the role", "any interval refers to it",
                              "interval 0 drops the role reference"])
def test_monitoring_role_reference_follows_the_interval(interval, referenced):
    resources = render(monitoringIntervalSeconds=interval, secondaryRegions=[EU])
    instances = [k for k, o in resources.items() if o["kind"] == "ClusterInstance"]
    assert len(instances) == 5
    assert {("monitoringRoleArnRef" in for_provider(resources, k)) for k in instances} == {referenced}


def test_cluster_identifiers_are_fixed_for_the_alarms_and_the_global_cluster():
    resources = render_database(make_platform("tap-prod", database={"secondaryRegions": [WEST]}))
    assert resources["database-cluster"]["metadata"]["annotations"][EXTERNAL_NAME] == "tap-prod-database-cluster"
    global_id = resources["database-global"]["metadata"]["annotations"][EXTERNAL_NAME]
    members = [k for k, o in resources.items() if o["kind"] == "Cluster"]
    assert members == ["database-cluster", "secondary-us-west-2-cluster"]
    assert {for_provider(resources, k)["globalClusterIdentifier"] for k in members} == {global_id}


def test_secondary_cluster_has_no_credentials_and_its_own_key():
    resources = render(secondaryRegions=[WEST])
    cluster = for_provider(resources, "secondary-us-west-2-cluster")
    assert not {"masterUsername", "manageMasterUserPassword"} & set(cluster)
    assert cluster["kmsKeyIdRef"] == {"name": "tap-prod-secondary-us-west-2-kms-key"}
    assert cluster["storageEncrypted"] is True
    assert for_provider(resources, "secondary-us-west-2-kms-key")["enableKeyRotation"] is True


@pytest.mark.parametrize(("key", "cluster", "subnet_group"), [
    ("database-writer", "database-cluster", "database-subnet-group"),
    ("database-reader-1", "database-cluster", "database-subnet-group"),
    ("secondary-eu-west-1-instance-1", "secondary-eu-west-1-cluster", "secondary-eu-west-1-subnet-group"),
    ("secondary-us-west-2-instance-0", "secondary-us-west-2-cluster", "secondary-us-west-2-subnet-group"),
], ids=["the writer joins the primary", "readers join the primary", "a secondary's instances join it",
        "each secondary keeps its own instances"])
def test_instances_join_their_own_cluster(key, cluster, subnet_group):
    instance = for_provider(render(secondaryRegions=[WEST, EU]), key)
    assert instance["clusterIdentifierRef"] == {"name": f"tap-prod-{cluster}"}
    assert instance["dbSubnetGroupNameRef"] == {"name": f"tap-prod-{subnet_group}"}


@pytest.mark.parametrize("secondary", [WEST, EU], ids=["a /16 VPC", "a /21 VPC, the smallest allowed"])
def test_secondary_network_is_isolated_subnets_inside_its_vpc_in_its_region(secondary):
    region = secondary["region"]
    resources = render(secondaryRegions=[secondary])
    mine = {k: o for k, o in resources.items() if k.startswith(f"secondary-{region}-")}
    assert {for_provider(mine, k)["region"] for k in mine} == {region}
    vpc = ipaddress.ip_network(for_provider(mine, f"secondary-{region}-vpc")["cidrBlock"])
    subnets = [for_provider(mine, f"secondary-{region}-subnet-{z}") for z in "abc"]
    blocks = [ipaddress.ip_network(s["cidrBlock"]) for s in subnets]
    assert all(b.prefixlen == 24 and b.subnet_of(vpc) for b in blocks) and len(set(blocks)) == 3
    assert [s["availabilityZone"] for s in subnets] == [f"{region}{z}" for z in "abc"]
    assert not any(s["mapPublicIpOnLaunch"] for s in subnets)


@pytest.mark.parametrize("database", [{}, {"secondaryRegions": [WEST, EU]}],
                         ids=["primary only", "with secondary regions"])
def test_every_reference_names_a_rendered_or_shared_key(database):
    platform = make_platform(database=database)
    resources = render_database(platform)
    names = {o["metadata"]["name"] for o in resources.values()}
    dangling = set()
    for obj in resources.values():
        for name in references(obj["spec"]["forProvider"]):
            key = name.removeprefix(f"{platform.name}-")
            if name not in names and not SHARED.match(key):
                dangling.add(name)
    assert dangling == set()
    assert references(for_provider(resources, "database-subnet-group")) == [
        f"tap-prod-subnet-isolated-{z}" for z in "abc"]

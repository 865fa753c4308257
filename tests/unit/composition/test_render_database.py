"""The Aurora global database renderer: keys, the fields that carry each parameter, and that a
parameter change touches only the objects it should."""

from __future__ import annotations

import ipaddress
import json
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


def test_an_instance_class_change_is_only_a_new_instance_class():
    """Nothing that would make the provider replace the instance changes beside the class."""
    before, after = render(), render(writerInstanceClass="db.r6g.xlarge")
    changed = {f for f in for_provider(after, "database-writer")
               if for_provider(after, "database-writer")[f] != for_provider(before, "database-writer").get(f)}
    assert changed == {"instanceClass"}
    assert after["database-writer"]["metadata"] == before["database-writer"]["metadata"]


@pytest.mark.parametrize(("key", "field", "expected"), [
    ("database-cluster", "kmsKeyIdRef", "kms-key"),
    ("database-cluster", "masterUserSecretKmsKeyIdRef", "kms-key"),
    ("database-cluster", "vpcSecurityGroupIdRefs", ["sg-database"]),
    ("database-cluster", "dbSubnetGroupNameRef", "database-subnet-group"),
    ("database-cluster", "dbClusterParameterGroupNameRef", "database-parameter-group"),
    ("database-writer", "monitoringRoleArnRef", "database-monitoring-role"),
    ("database-monitoring-policy", "roleRef", "database-monitoring-role"),
    ("secondary-us-west-2-cluster", "vpcSecurityGroupIdRefs", ["secondary-us-west-2-sg"]),
    ("secondary-us-west-2-cluster", "dbSubnetGroupNameRef", "secondary-us-west-2-subnet-group"),
    ("secondary-us-west-2-subnet-group", "subnetIdRefs", [f"secondary-us-west-2-subnet-{z}" for z in "abc"]),
    ("secondary-us-west-2-sg", "vpcIdRef", "secondary-us-west-2-vpc"),
], ids=[
    "storage under the platform key", "the generated secret under the platform key", "the database security group",
    "the isolated subnets", "the cluster parameters", "enhanced monitoring's role", "the role's policy attachment",
    "a secondary's own security group", "a secondary's own subnet group", "a secondary's subnets",
    "a secondary's security group in its VPC",
])
def test_references_wire_each_object_to_its_dependency(key, field, expected):
    value = for_provider(render(secondaryRegions=[WEST]), key)[field]
    names = [ref["name"] for ref in value] if isinstance(value, list) else value["name"]
    assert names == ([f"tap-prod-{k}" for k in expected] if isinstance(expected, list) else f"tap-prod-{expected}")


@pytest.mark.parametrize("apply_immediately", [True, False], ids=["apply now", "wait for the maintenance window"])
def test_apply_immediately_reaches_the_clusters_and_instances(apply_immediately):
    platform = make_platform(applyImmediately=apply_immediately, database={"secondaryRegions": [EU]})
    resources = render_database(platform)
    kinds = {"Cluster", "ClusterInstance"}
    carriers = {k: for_provider(resources, k)["applyImmediately"] for k, o in resources.items() if o["kind"] in kinds}
    assert len(carriers) == 2 + 3 + 2
    assert set(carriers.values()) == {apply_immediately}


def test_parameters_apply_immediately_as_dynamic_parameters():
    parameters = for_provider(render(), "database-parameter-group")["parameter"]
    assert {p["applyMethod"] for p in parameters} == {"immediate"}


def test_monitoring_role_is_for_rds_with_the_enhanced_monitoring_policy():
    resources = render()
    trust = json.loads(for_provider(resources, "database-monitoring-role")["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "monitoring.rds.amazonaws.com"}]
    assert for_provider(resources, "database-monitoring-policy")["policyArn"] == (
        "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")


@pytest.mark.parametrize(("key", "field", "expected"), [
    ("database-cluster", "skipFinalSnapshot", False),
    ("database-cluster", "finalSnapshotIdentifier", "tap-prod-database-cluster-final"),
    ("database-cluster", "copyTagsToSnapshot", True),
    ("database-cluster", "masterUsername", "tap_admin"),
    ("database-global", "storageEncrypted", True),
    ("secondary-us-west-2-cluster", "deletionProtection", False),
    ("secondary-us-west-2-cluster", "skipFinalSnapshot", True),
    ("secondary-us-west-2-cluster", "engineVersion", "8.0.mysql_aurora.3.04.0"),
    ("secondary-us-west-2-instance-0", "instanceClass", "db.r6g.4xlarge"),
    ("secondary-us-west-2-vpc", "cidrBlock", "10.1.0.0/16"),
], ids=[
    "the primary keeps a final snapshot", "under a fixed name", "snapshots keep the tags", "a master user",
    "the global cluster is encrypted", "a secondary can be dropped", "its data is the primary's",
    "a secondary runs the global engine version", "a secondary's default instance class", "the entry's VPC network",
])
def test_fixed_settings(key, field, expected):
    assert for_provider(render(secondaryRegions=[WEST]), key)[field] == expected


def test_secondary_security_group_lets_nothing_in():
    group = for_provider(render(secondaryRegions=[WEST]), "secondary-us-west-2-sg")
    assert not {"ingress", "egress"} & set(group)


@pytest.mark.parametrize(("before", "after", "expected"), [
    (["a", "b", "c"], ["b", "c"],
     {"added": set(), "removed": {"secondary-eu-west-1-subnet-a"},
      "modified": {"database-subnet-group", "secondary-eu-west-1-subnet-group"}}),
    (["a", "b", "c"], ["a", "b", "c", "d"],
     {"added": {"secondary-eu-west-1-subnet-d"}, "removed": set(),
      "modified": {"database-subnet-group", "secondary-eu-west-1-subnet-group"}}),
], ids=["dropping a zone keeps the other zones' secondary subnets", "adding a zone moves no subnet"])
def test_zone_changes_never_move_a_secondary_subnet(before, after, expected):
    def zoned(letters):
        return render_database(make_platform(network={"availabilityZones": letters, "natGateways": 2},
                                             database={"secondaryRegions": [EU]}))
    assert diff(zoned(before), zoned(after)) == expected


def test_a_zone_beyond_the_secondary_vpc_is_refused():
    platform = make_platform(network={"availabilityZones": ["a", "i"], "natGateways": 1},
                             database={"secondaryRegions": [EU]})
    with pytest.raises(ValueError, match=re.escape("zone 'i' has no /24 in the VPC 10.2.0.0/21")):
        render_database(platform)

"""The pure core of `tap-optimizer import`: live configuration in, TapPlatform and report out, and
the check of a rendered platform against what runs, on literals."""

from __future__ import annotations

import dataclasses

import pytest

from tap_optimizer.adoption.check import EXTERNAL_NAME_FIELD, differences
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
from tap_optimizer.adoption.platform import imported, table_key
from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform

TABLE = LiveTable(name="tap-dev-users", hash_key="user_id", range_key="tenant_id",
                  attribute_types={"user_id": "S", "tenant_id": "S", "email": "S"}, billing_mode="PAY_PER_REQUEST",
                  indexes={"ByEmail": LiveIndex("email", None, "ALL")}, stream_view_type="NEW_AND_OLD_IMAGES",
                  point_in_time_recovery=True)
PRIMARY = LiveCluster(identifier="tap-dev-aurora", region="us-east-1", engine_version="8.0.mysql_aurora.3.04.0",
                      instances=(LiveInstance("w", "db.r6g.2xlarge", True, True, 30),
                                 LiveInstance("r2", "db.r6g.xlarge", False, True, 30),
                                 LiveInstance("r1", "db.r6g.xlarge", False, True, 30)),
                      backup_retention_days=14, backup_window="03:00-04:00", maintenance_window="sun:04:00-sun:05:00",
                      log_exports=("error",))
LIVE = Live(region="us-east-1", tables=(TABLE,), primary=PRIMARY, global_cluster="tap-dev-global",
            fleet=LiveFleet("tap-dev-asg", 2, 6, 4, 300, "ELB", "m5.large", "ami-12c6146b"),
            cache=LiveCache("tap-dev-redis", "cache.r6g.large", "7.1.0", 2, 1, 5, True))


def test_the_imported_platform_renders_to_exactly_what_runs():
    xr, _ = imported("tap-dev", "tap", LIVE)
    assert differences(render_platform(xr), LIVE) == []
    params = xr["spec"]["parameters"]
    assert params["cache"]["engineVersion"] == "7.1"
    assert params["externalNames"]["database-reader-0"] == "r1"  # readers in identifier order
    assert params["tables"]["users"]["globalSecondaryIndexes"] == {"ByEmail": {"hashKey": "email",
                                                                               "projection": "ALL"}}


def test_settings_outside_the_xrd_are_reported_never_defaulted_silently():
    provisioned = dataclasses.replace(TABLE, name="tap-dev-orders", billing_mode="PROVISIONED",
                                      attribute_types={**TABLE.attribute_types, "total": "N"})
    mixed = dataclasses.replace(PRIMARY, instances=(*PRIMARY.instances[:2], LiveInstance("r1", "db.r6g.large", False,
                                                                                          True, 30)))
    live = dataclasses.replace(LIVE, tables=(TABLE, provisioned), primary=mixed,
                               fleet=dataclasses.replace(LIVE.fleet, health_check_type="EC2"),
                               cache=dataclasses.replace(LIVE.cache, engine_version="", cluster_mode=False))
    xr, report = imported("tap-dev", "tap", live)
    assert "orders" not in xr["spec"]["parameters"]["tables"]
    assert ("not adopted: dynamodb table tap-dev-orders: attribute total is of type N; only strings (S) are "
            "modelled; billing mode PROVISIONED; only PAY_PER_REQUEST is modelled") in report
    assert any("cluster mode disabled" in line for line in report)
    assert any(line.startswith("default kept (not read from AWS): cache.engineVersion") for line in report)
    assert any("aurora readers of tap-dev-aurora run db.r6g.large, db.r6g.xlarge" in line for line in report)
    assert any("tap-dev-asg checks health by EC2" in line for line in report)
    assert {(d.key, d.field) for d in differences(render_platform(xr), live)} == {
        ("cache-replication-group", "clusterMode"), ("database-reader-1", "instanceClass"),
        ("compute-asg", "healthCheckType")}


def test_every_difference_is_named_and_a_resource_adopting_another_name_is_one():
    xr, _ = imported("tap-dev", "tap", LIVE)
    xr["spec"]["parameters"]["database"]["backupRetentionDays"] = 30
    xr["spec"]["parameters"]["externalNames"]["table-users"] = "tap-dev-people"
    found = {(d.key, d.field): (d.desired, d.live) for d in differences(render_platform(xr), LIVE)}
    assert found == {("database-cluster", "backupRetentionPeriod"): (30, 14),
                     ("table-users", EXTERNAL_NAME_FIELD): ("tap-dev-people", "tap-dev-users")}


def test_table_keys_follow_the_xrd_pattern():
    assert [table_key(n) for n in ("tap-dev-audit_logs", "TapStack-Orders", "tap-dev-2024")] == \
        ["audit_logs", "orders", "t_2024"]


def test_a_component_not_found_is_reported_as_defaulted_and_created():
    xr, report = imported("tap-dev", "tap", Live(region="us-east-1", tables=(TABLE,)))
    assert set(xr["spec"]["parameters"]) == {"region", "managementMode", "tables", "externalNames"}
    assert [line.split(";")[0] for line in report if line.startswith("not found")] == [
        "not found: no Redis replication group (cache)", "not found: no Aurora cluster (database)",
        "not found: no Auto Scaling group (compute)", "not found: no VPC (network)"]


def test_what_the_xrd_cannot_express_is_refused_naming_the_field_not_rendered_wrong():
    aurora2 = dataclasses.replace(PRIMARY, engine_version="5.7.mysql_aurora.2.11.2")
    xr, _ = imported("tap-dev", "tap", dataclasses.replace(LIVE, primary=aurora2))
    with pytest.raises(InvalidPlatformError, match=r"spec\.parameters\.database\.engineVersion"):
        render_platform(xr)


def test_a_manifest_that_adopts_less_than_runs_differs():
    xr, _ = imported("tap-dev", "tap", LIVE)
    params = xr["spec"]["parameters"]
    del params["externalNames"]["database-writer"]  # a new writer would be created
    del params["tables"]["users"], params["externalNames"]["table-users"]  # the table would be left unmanaged
    found = differences(render_platform(xr), LIVE)
    assert {(d.key, d.field): (d.desired, d.live) for d in found} == {
        ("database-writer", EXTERNAL_NAME_FIELD): (None, "w"),
        ("table-users", EXTERNAL_NAME_FIELD): (None, "tap-dev-users")}
    assert str(found[0]) == ("database-writer: adopts nothing (under full management another is created, or none and "
                             "the running one is left unmanaged), running 'w'")


def test_a_manifest_of_another_regions_platform_differs_in_each_resources_region():
    xr, _ = imported("tap-dev", "tap", LIVE)
    xr["spec"]["parameters"]["region"] = "eu-west-1"
    found = differences(render_platform(xr), LIVE)
    assert {d.field for d in found} == {"region"} and len(found) == 7  # table, cache, cluster, writer, 2 readers, group
    assert "table-users: forProvider.region: desired 'eu-west-1', running 'us-east-1'" in map(str, found)


def test_a_table_the_xrd_cannot_hold_is_reported_and_its_settings_outside_the_xrd_are_named():
    odd = dataclasses.replace(TABLE, name="tap-dev-events", hash_key="pk#", attribute_types={"pk#": "S"}, indexes={},
                              range_key=None)
    local = dataclasses.replace(TABLE, name="tap-dev-orders", local_indexes=("ByDate",))
    ttl = dataclasses.replace(TABLE, name="tap-dev-sessions", ttl_attribute="expires_at",
                              table_class="STANDARD_INFREQUENT_ACCESS", replica_regions=("eu-west-1",),
                              indexes={"ByTenant": LiveIndex("tenant_id", None, "INCLUDE")})
    plain = dataclasses.replace(ttl, name="tap-dev-carts", indexes={})
    xr, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, tables=(TABLE, odd, local, ttl, plain)))
    assert sorted(xr["spec"]["parameters"]["tables"]) == ["carts", "users"]
    assert "not adopted: dynamodb table tap-dev-events: key attribute 'pk#' does not match the XRD's pattern " \
           "^[A-Za-z0-9_.-]{1,255}$" in report
    assert "not adopted: dynamodb table tap-dev-orders: local secondary indexes ByDate; none are modelled" in report
    assert "not adopted: dynamodb table tap-dev-sessions: index ByTenant projects INCLUDE; only ALL and KEYS_ONLY " \
           "are modelled" in report
    assert [line.split(": ", 2)[2] for line in report if line.startswith("outside the XRD")] == [
        "time to live on attribute expires_at", "table class STANDARD_INFREQUENT_ACCESS",
        "replicas in eu-west-1 (a global table)"]
    render_platform(xr)


def test_a_long_table_name_and_a_fifty_first_table_still_give_a_platform_the_xrd_accepts():
    long = dataclasses.replace(TABLE, name="tap-dev-" + "a" * 80)
    many = tuple(dataclasses.replace(TABLE, name=f"tap-dev-t{n:02}") for n in range(50))
    xr, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, tables=(long, *many)))
    assert "a" * 57 in xr["spec"]["parameters"]["tables"] and len(xr["spec"]["parameters"]["tables"]) == 50
    assert "not adopted: dynamodb table tap-dev-t49: the XRD holds at most 50 tables" in report
    render_platform(xr)


@pytest.mark.parametrize(("cache", "line", "difference"), [
    (dataclasses.replace(LIVE.cache, replicas_per_shard=0), "differs: elasticache replication group tap-dev-redis has "
     "no replica; the composition has at least 1 per shard (automatic failover, multi-AZ)", (1, 0)),
    (dataclasses.replace(LIVE.cache, replicas_per_shard=2, replica_counts=(2, 1)), "differs: the shards of "
     "elasticache replication group tap-dev-redis have 1, 2 replicas; the composition gives every shard as many (2)",
     (2, [1, 2])),
])
def test_a_cache_with_other_replica_counts_is_imported_and_reported_as_differing(cache, line, difference):
    live = dataclasses.replace(LIVE, cache=cache)
    xr, report = imported("tap-dev", "tap", live)
    assert line in report
    assert {(d.key, d.field): (d.desired, d.live) for d in differences(render_platform(xr), live)} == {
        ("cache-replication-group", "replicasPerNodeGroup"): difference}


def test_a_valkey_group_differs_in_its_engine():
    live = dataclasses.replace(LIVE, cache=dataclasses.replace(LIVE.cache, engine="valkey"))
    xr, report = imported("tap-dev", "tap", live)
    assert "differs: elasticache replication group tap-dev-redis runs valkey; the composition runs redis" in report
    assert [(d.field, d.desired, d.live) for d in differences(render_platform(xr), live)] == [
        ("engine", "redis", "valkey")]


def test_instances_the_composition_would_configure_otherwise_are_reported():
    quiet = LiveInstance("r1", "db.r6g.xlarge", False, False, 0)
    secondaries = (LiveCluster("tap-dev-aurora-us-west-2", "us-west-2", PRIMARY.engine_version, (),
                               vpc_cidr="10.1.0.0/16"),
                   LiveCluster("tap-dev-aurora-eu-west-1", "eu-west-1", PRIMARY.engine_version,
                               (LiveInstance("e1", "db.r6g.large", False, True, 30),
                                LiveInstance("e2", "db.r6g.xlarge", False, True, 30)), vpc_cidr="10.2.0.0/16"))
    live = dataclasses.replace(LIVE, primary=dataclasses.replace(PRIMARY, instances=(PRIMARY.instances[0], quiet)),
                               secondaries=secondaries)
    xr, report = imported("tap-dev", "tap", live)
    assert sorted(line for line in report if line.startswith("differs: aurora")) == [
        "differs: aurora instance r1 of tap-dev-aurora has performance insights off and a monitoring interval of 0s; "
        "the composition gives every instance the writer's (on, 30s)",
        "differs: aurora secondary tap-dev-aurora-eu-west-1 (eu-west-1) runs db.r6g.large, db.r6g.xlarge; the "
        "composition gives its instances one class (db.r6g.large)",
        "differs: aurora secondary tap-dev-aurora-us-west-2 (us-west-2) has no instance; the composition gives a "
        "secondary at least one, which full management would create"]
    assert {(d.key, d.field) for d in differences(render_platform(xr), live)} == {
        ("database-reader-0", "performanceInsightsEnabled"), ("database-reader-0", "monitoringInterval"),
        ("secondary-eu-west-1-instance-1", "instanceClass"), ("secondary-us-west-2-instance-0", "(not running)")}


def test_a_cluster_without_a_writer_is_reported():
    live = dataclasses.replace(LIVE, primary=dataclasses.replace(PRIMARY, instances=PRIMARY.instances[1:]))
    _, report = imported("tap-dev", "tap", live)
    assert "not found: no writer instance in aurora cluster tap-dev-aurora; database.writerInstanceClass takes the " \
           "XRD's default, which full management would create" in report


def test_a_fleet_the_composition_would_launch_otherwise_is_reported():
    mixed = dataclasses.replace(LIVE.fleet, overrides=("m5.large", "m5a.large"), on_demand_percent=25)
    _, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, fleet=mixed))
    assert "differs: autoscaling group tap-dev-asg has a mixed instances policy (instance types m5.large, m5a.large, " \
           "25% on demand above its base); the composition launches its launch template's one instance type, on " \
           "demand" in report
    bare = dataclasses.replace(LIVE.fleet, instance_type=None, image_id=None, launch_configuration="tap-dev-lc")
    xr, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, fleet=bare))
    assert "differs: autoscaling group tap-dev-asg launches from launch configuration tap-dev-lc; the composition " \
           "launches from a launch template of its own" in report
    assert [line.split(": ")[1] for line in report if "launches from no template" in line] == [
        "compute.instanceType (autoscaling group tap-dev-asg launches from no template or configuration naming one)",
        "compute.imageId (autoscaling group tap-dev-asg launches from no template or configuration naming one)"]
    assert "instanceType" not in xr["spec"]["parameters"]["compute"]


def _network(zones: str, nat_gateways: int | None) -> LiveNetwork:
    return LiveNetwork("vpc-0a1b2c3d", "10.0.0.0/16", tuple(LiveSubnet(f"subnet-0a1b2c3{n}", "public", z,
                                                                      f"10.0.{n}.0/24")
                                                     for n, z in enumerate(zones)), nat_gateways)


@pytest.mark.parametrize(("network", "parameters", "line"), [
    (_network("ab", 2), {"availabilityZones": ["a", "b"], "natGateways": 2}, None),
    (_network("ab", None), {"availabilityZones": ["a", "b"], "natGateways": 2},
     "default kept (not read from AWS): network.natGateways (at most one per zone: 2)"),
    (_network("ab", 0), {"availabilityZones": ["a", "b"], "natGateways": 1},
     "differs: VPC vpc-0a1b2c3d has 0 NAT gateway(s); the composition has one to one per zone, so "
     "network.natGateways is 1"),
    (_network("a", 1), {"natGateways": 1}, "differs: the subnets found of VPC vpc-0a1b2c3d are in 1 zone(s); the "
     "XRD needs at least 2, so network.availabilityZones keeps its default (a, b, c), whose subnets full management "
     "would create"),
])
def test_a_two_zone_network_imports_with_as_many_nat_gateways_as_the_xrd_allows(network, parameters, line):
    xr, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, network=network))
    assert {k: v for k, v in xr["spec"]["parameters"]["network"].items() if k != "vpcCidr"} == parameters
    assert line is None or line in report
    render_platform(xr)


ELB = "arn:aws:elasticloadbalancing:us-east-1:123456789012:"


@pytest.mark.parametrize(("key", "name"), [
    ("database-cluster", "TAP_dev aurora"), ("database-reader-0", "tap--reader"), ("cache-replication-group", "-redis"),
    ("cache-replication-group", "r" * 41), ("table-users", "u"), ("vpc", "tap-vpc"),
    ("subnet-public-a", "vpc-0a1b2c3d"), ("sg-app", "tap-app"), ("kms-alias", "tap-dev-key"), ("kms-key", "tap-key"),
    ("compute-asg", "a:b"), ("lb-alb", "tap-dev-alb"),
    ("lb-tg-api", f"{ELB}loadbalancer/app/a/1f"),
])
def test_an_external_name_aws_would_not_accept_for_its_kind_is_refused_naming_it(key, name):
    xr, _ = imported("tap-dev", "tap", LIVE)
    xr["spec"]["parameters"]["externalNames"][key] = name
    with pytest.raises(InvalidPlatformError, match=rf"spec\.parameters\.externalNames\.{key}: '.*' is not an? "):
        render_platform(xr)


def test_external_names_as_aws_gives_them_render():
    xr, _ = imported("tap-dev", "tap", LIVE)
    xr["spec"]["parameters"]["externalNames"].update({
        "vpc": "vpc-0a1b2c3d4e5f60718", "subnet-public-a": "subnet-0a1b2c3d", "sg-app": "sg-0123456789abcdef0",
        "kms-key": "1234abcd-12ab-34cd-56ef-1234567890ab", "kms-alias": "alias/tap-dev-key", "compute-asg": "TapAsg 1",
        "lb-alb": f"{ELB}loadbalancer/app/TapSt-TapAl-1A2B/50dc6c495c0c9188",
        "lb-tg-api": f"{ELB}targetgroup/tap-dev-api-tg/73e2d6bc24d8a067"})
    render_platform(xr)


def test_serverless_capacity_is_reported_outside_the_xrd():
    serverless = dataclasses.replace(PRIMARY, instances=(LiveInstance("w", "db.serverless", True, True, 30),),
                                     serverless_capacity=(0.5, 16.0))
    xr, report = imported("tap-dev", "tap", dataclasses.replace(LIVE, primary=serverless))
    assert xr["spec"]["parameters"]["database"]["writerInstanceClass"] == "db.serverless"
    assert "outside the XRD (the TapPlatform cannot express it, --check does not compare it): aurora cluster " \
           "tap-dev-aurora: Serverless v2 capacity 0.5-16 ACUs" in report


def test_subnet_groups_are_adopted_and_one_full_management_would_move_a_cluster_to_differs():
    live = dataclasses.replace(LIVE, primary=dataclasses.replace(PRIMARY, subnet_group="tapstack-aurorasubnets"),
                               cache=dataclasses.replace(LIVE.cache, subnet_group="tapstack-redissubnets"))
    xr, _ = imported("tap-dev", "tap", live)
    names = xr["spec"]["parameters"]["externalNames"]
    assert (names["database-subnet-group"], names["cache-subnet-group"]) == ("tapstack-aurorasubnets",
                                                                             "tapstack-redissubnets")
    assert differences(render_platform(xr), live) == []
    del names["database-subnet-group"]  # the composition's own would be created, the cluster moved to it
    assert [(d.key, d.field, d.desired, d.live) for d in differences(render_platform(xr), live)] == [
        ("database-cluster", "dbSubnetGroupName", None, "tapstack-aurorasubnets")]
    default = dataclasses.replace(live, primary=dataclasses.replace(PRIMARY, subnet_group="default"))
    xr, report = imported("tap-dev", "tap", default)
    assert "database-subnet-group" not in xr["spec"]["parameters"]["externalNames"]
    assert "differs: aurora cluster tap-dev-aurora is in the default subnet group; the composition gives it one of " \
           "its own, which full management would create and move it to" in report


KEY, OTHER_KEY = "1234abcd-12ab-34cd-56ef-1234567890ab", "5678abcd-12ab-34cd-56ef-1234567890ab"


@pytest.mark.parametrize(("encrypted", "key", "line", "difference"), [
    (True, KEY, None, None),
    (False, None, "differs: aurora cluster tap-dev-aurora is not encrypted; the composition encrypts its storage, "
     "which AWS does by replacing the cluster", ("storageEncrypted", True, False)),
    (True, OTHER_KEY, f"differs: aurora cluster tap-dev-aurora is encrypted with KMS key {OTHER_KEY}; the composition "
     f"uses the platform's ({KEY}), which AWS changes by replacing the cluster", ("kmsKeyId", KEY, OTHER_KEY)),
])
def test_a_cluster_encrypted_otherwise_than_the_composition_would_is_reported_and_differs(encrypted, key, line,
                                                                                           difference):
    live = dataclasses.replace(LIVE, kms_key=KEY, primary=dataclasses.replace(PRIMARY, storage_encrypted=encrypted,
                                                                               kms_key=key))
    xr, report = imported("tap-dev", "tap", live)
    assert line is None or line in report
    assert [(d.field, d.desired, d.live) for d in differences(render_platform(xr), live)] == \
        ([difference] if difference else [])


def test_a_cache_encrypted_otherwise_than_the_composition_would_is_reported_and_differs():
    plain = dataclasses.replace(LIVE.cache, at_rest_encryption=False, transit_encryption=False)
    live = dataclasses.replace(LIVE, kms_key=KEY, cache=plain)
    xr, report = imported("tap-dev", "tap", live)
    assert [line for line in report if "encrypted" in line] == [
        "differs: elasticache replication group tap-dev-redis is not encrypted at rest; the composition encrypts it, "
        "which AWS does by replacing the group",
        "differs: elasticache replication group tap-dev-redis is not encrypted in transit; the composition encrypts it"]
    assert [(d.field, d.desired, d.live) for d in differences(render_platform(xr), live)] == [
        ("atRestEncryptionEnabled", "true", "false"), ("transitEncryptionEnabled", True, False)]
    other = dataclasses.replace(live, cache=dataclasses.replace(LIVE.cache, at_rest_encryption=True, kms_key=OTHER_KEY))
    xr, report = imported("tap-dev", "tap", other)
    assert any(f"is encrypted with KMS key {OTHER_KEY}" in line for line in report)
    assert [(d.field, d.desired, d.live) for d in differences(render_platform(xr), other)] == [
        ("kmsKeyId", KEY, OTHER_KEY)]


def test_a_manifest_with_more_than_runs_differs_in_what_full_management_would_create():
    xr, _ = imported("tap-dev", "tap", LIVE)
    params = xr["spec"]["parameters"]
    params["database"]["readerCount"] = 3
    params["tables"]["orders"] = {"hashKey": "order_id"}
    found = differences(render_platform(xr), LIVE)
    assert [str(d) for d in found] == [
        "database-reader-2: runs nowhere in AWS; full management would create it",
        "table-orders: runs nowhere in AWS; full management would create it"]

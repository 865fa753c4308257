"""The Redis renderer: keys, the fields that carry each parameter, and in-place changes."""

from __future__ import annotations

import pytest

from tap_optimizer.composition.render.cache import render_cache
from tap_optimizer.composition.render.common import EXTERNAL_NAME
from tests.unit.composition.conftest import assert_valid, make_platform

KEYS = {"cache-subnet-group", "cache-parameter-group", "cache-replication-group"}
SHARED = {"tap-prod-kms-key", "tap-prod-sg-cache"} | {f"tap-prod-subnet-private-{z}" for z in "abcdef"}


def render(**cache) -> dict:
    return render_cache(make_platform(cache=cache))


def group(resources: dict) -> dict:
    return resources["cache-replication-group"]["spec"]["forProvider"]


@pytest.mark.parametrize("cache", [
    {},
    {"nodeType": "cache.r6g.xlarge", "shards": 2, "replicasPerShard": 1},
    {"engineVersion": "6.2", "snapshotRetentionDays": 0},
], ids=["reference defaults", "the recommended downsize", "redis 6 without snapshots"])
def test_every_object_validates_and_keys_are_fixed(cache):
    resources = render(**cache)
    assert_valid(resources)
    assert set(resources) == KEYS


@pytest.mark.parametrize(("change", "modified"), [
    ({"nodeType": "cache.r6g.xlarge"}, {"cache-replication-group"}),
    ({"shards": 2}, {"cache-replication-group"}),
    ({"replicasPerShard": 1}, {"cache-replication-group"}),
    ({"snapshotRetentionDays": 1}, {"cache-replication-group"}),
    ({"engineVersion": "6.2"}, {"cache-replication-group", "cache-parameter-group"}),
], ids=["node type changes the same group in place", "shard count changes the same group in place",
        "replicas change the same group in place", "snapshot retention changes only the group",
        "a major version changes the parameter family too"])
def test_a_change_modifies_only_what_it_should(change, modified):
    before, after = render(), render(**change)
    assert set(before) == set(after)
    assert {k for k in before if before[k] != after[k]} == modified


@pytest.mark.parametrize(("cache", "field", "expected"), [
    ({"nodeType": "cache.m6g.large"}, "nodeType", "cache.m6g.large"),
    ({"shards": 2}, "numNodeGroups", 2),
    ({"replicasPerShard": 1}, "replicasPerNodeGroup", 1),
    ({"snapshotRetentionDays": 7}, "snapshotRetentionLimit", 7),
    ({"engineVersion": "7.1"}, "engineVersion", "7.1"),
    ({"authTokenSecretRef": {"name": "other", "key": "auth"}}, "authTokenSecretRef", {"name": "other", "key": "auth"}),
    ({}, "authTokenSecretRef", {"name": "tap-redis-auth", "key": "token"}),
    ({}, "atRestEncryptionEnabled", "true"),
    ({}, "transitEncryptionEnabled", True),
    ({}, "automaticFailoverEnabled", True),
    ({}, "multiAzEnabled", True),
    ({}, "engine", "redis"),
    ({}, "parameterGroupName", "tap-prod-redis7"),
], ids=["node type", "shards", "replicas per shard", "snapshot retention", "engine version",
        "auth token secret", "reference auth token secret", "encryption at rest (a string)",
        "encryption in transit", "automatic failover", "multi-AZ", "redis", "its own parameter group"])
def test_replication_group_fields(cache, field, expected):
    assert group(render(**cache))[field] == expected


@pytest.mark.parametrize(("version", "family"), [("7.0", "redis7"), ("7.1", "redis7"), ("6.2", "redis6")],
                         ids=["redis 7.0", "minor versions share a family", "redis 6"])
def test_parameter_group_is_cluster_mode_of_the_major_version(version, family):
    resources = render(engineVersion=version)
    parameters = resources["cache-parameter-group"]["spec"]["forProvider"]
    assert parameters["family"] == family
    assert parameters["parameter"] == [{"name": "cluster-enabled", "value": "yes"}]
    assert group(resources)["parameterGroupName"] == parameters["name"]


def test_replication_group_id_is_fixed_for_the_alarms():
    annotations = render()["cache-replication-group"]["metadata"]["annotations"]
    assert annotations[EXTERNAL_NAME] == "tap-prod-cache"


@pytest.mark.parametrize("zones", [["a", "b", "c"], ["b", "d"]], ids=["three zones", "two other zones"])
def test_references_resolve_to_shared_keys(zones):
    resources = render_cache(make_platform(network={"availabilityZones": zones, "natGateways": 1}))
    subnet_group = resources["cache-subnet-group"]["spec"]["forProvider"]
    assert subnet_group["subnetIdRefs"] == [{"name": f"tap-prod-subnet-private-{z}"} for z in zones]
    fields = group(resources)
    assert fields["kmsKeyIdRef"]["name"] in SHARED
    assert [r["name"] for r in fields["securityGroupIdRefs"]] == ["tap-prod-sg-cache"]
    assert fields["subnetGroupNameRef"]["name"] == resources["cache-subnet-group"]["metadata"]["name"]


@pytest.mark.parametrize(("change", "fields"), [
    ({"nodeType": "cache.r6g.xlarge"}, {"nodeType"}),
    ({"shards": 2}, {"numNodeGroups"}),
], ids=["a node type change is only a new node type", "a shard change is only a new shard count"])
def test_a_resize_changes_one_field_of_the_group(change, fields):
    before, after = group(render()), group(render(**change))
    assert {f for f in after if after[f] != before.get(f)} == fields
    assert set(after) == set(before)


@pytest.mark.parametrize("apply_immediately", [True, False], ids=["apply now", "wait for the maintenance window"])
def test_apply_immediately_reaches_the_group(apply_immediately):
    resources = render_cache(make_platform(applyImmediately=apply_immediately))
    assert group(resources)["applyImmediately"] is apply_immediately


def test_every_reference_names_a_rendered_or_shared_key():
    resources = render()
    known = {o["metadata"]["name"] for o in resources.values()} | SHARED
    refs = [ref for obj in resources.values() for field, value in obj["spec"]["forProvider"].items()
            if field.endswith(("Ref", "Refs")) for ref in (value if isinstance(value, list) else [value])]
    object_refs = [ref["name"] for ref in refs if "key" not in ref]  # a key marks a Secret reference
    assert len(object_refs) == 3 + 3
    assert set(object_refs) <= known

"""The TapPlatform XRD, Composition and Functions are valid Crossplane objects, and the XRD's
validation refuses what it should with a message naming the field."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.platform.parameters import defaulted_parameters, parameter_errors, xr_schema, xrd
from tests.support.crds import object_errors

CROSSPLANE = pathlib.Path(__file__).resolve().parents[3] / "manifests" / "crossplane"


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((CROSSPLANE / name).read_text()) if d]


@pytest.mark.parametrize("name", ["xrd.yaml", "composition.yaml", "functions.yaml"])
def test_crossplane_package_objects_validate_against_crossplane_crds(name):
    for doc in documents(name):
        assert object_errors(doc) == [], doc["metadata"]["name"]


def test_xrd_is_namespaced_v2_and_the_manifest_is_the_packaged_file():
    (doc,) = documents("xrd.yaml")
    assert doc == xrd()
    assert doc["apiVersion"] == "apiextensions.crossplane.io/v2"
    assert doc["spec"]["scope"] == "Namespaced"
    assert [v["name"] for v in doc["spec"]["versions"]] == ["v1alpha1"]


def test_composition_pipeline_runs_our_function_then_auto_ready():
    (composition,) = documents("composition.yaml")
    functions = {d["metadata"]["name"] for d in documents("functions.yaml")}
    steps = [s["functionRef"]["name"] for s in composition["spec"]["pipeline"]]
    assert steps == ["function-tap-optimizer", "function-auto-ready"]
    assert set(steps) <= functions
    assert composition["metadata"]["name"] == xrd()["spec"]["defaultCompositionRef"]["name"]


def _fields(schema: dict, path: str = "spec"):
    for key, sub in (schema.get("properties") or {}).items():
        yield f"{path}.{key}", sub
        yield from _fields(sub, f"{path}.{key}")
    for child, suffix in ((schema.get("items"), "[]"), (schema.get("additionalProperties"), ".*")):
        if isinstance(child, dict):
            yield path + suffix, child
            yield from _fields(child, path + suffix)


def test_every_field_has_a_description():
    spec = xr_schema()["properties"]["spec"]
    missing = [path for path, sub in _fields(spec) if not sub.get("description")]
    assert missing == []


def test_defaults_reproduce_the_reference_platform():
    p = defaulted_parameters({})
    assert parameter_errors(p) == []
    assert (p["database"]["writerInstanceClass"], p["database"]["readerCount"], p["database"]["backupRetentionDays"]) \
        == ("db.r6g.4xlarge", 2, 30)
    assert (p["compute"]["instanceType"], p["compute"]["minSize"], p["compute"]["desiredCapacity"],
            p["compute"]["maxSize"], p["compute"]["targetCpuPercent"]) == ("m5.4xlarge", 12, 15, 25, 70)
    assert (p["cache"]["nodeType"], p["cache"]["shards"], p["cache"]["replicasPerShard"]) == ("cache.r6g.4xlarge", 4, 2)
    assert {t: sorted(v["globalSecondaryIndexes"]) for t, v in p["tables"].items()} == {
        "tenants": ["ByDomain", "ByOwner", "ByPlan", "ByStatus"],
        "users": ["ByEmail", "ByRole", "ByStatus", "ByTenant"],
        "audit_logs": ["ByAction", "BySeverity", "ByTenant", "ByUser"],
    }
    assert all(t["streamEnabled"] and t["streamViewType"] == "NEW_AND_OLD_IMAGES" for t in p["tables"].values())
    assert p["network"]["flowLogRetentionDays"] == 90 and p["applyImmediately"] is True


@pytest.mark.parametrize(
    ("parameters", "wanted"),
    [
        ({"compute": {"minSize": 20}},
         "spec.parameters.compute: compute requires minSize <= desiredCapacity <= maxSize"),
        ({"compute": {"desiredCapacity": 30}}, "compute requires minSize <= desiredCapacity <= maxSize"),
        ({"network": {"availabilityZones": ["a", "b"]}},
         "spec.parameters.network: network.natGateways must not exceed the number of network.availabilityZones"),
        ({"tags": {"tap.io/platform": "x"}}, "tags must not set keys under tap.io/"),
        ({"tables": {"Bad-Name": {"hashKey": "id"}}}, "tables keys must match"),
        ({"tables": {"t": {"hashKey": "id", "globalSecondaryIndexes": {"x": {"hashKey": "a"}}}}},
         "spec.parameters.tables.t.globalSecondaryIndexes: globalSecondaryIndexes keys must match"),
        ({"database": {"readerCount": 16}},
         "spec.parameters.database.readerCount: 16 is greater than the maximum of 15"),
        ({"database": {"writerInstanceClass": "r6g.large"}},
         "spec.parameters.database.writerInstanceClass: 'r6g.large'"),
        ({"database": {"secondaryRegions": [{"region": "us-west-2"}]}},
         "spec.parameters.database.secondaryRegions[0]: 'vpcCidr' is a required field"),
        ({"cache": {"shards": 0}}, "spec.parameters.cache.shards: 0 is less than the minimum of 1"),
        ({"network": {"flowLogRetentionDays": 10}}, "allowed values: 1, 3, 5"),
        ({"region": "moon-1"}, "spec.parameters.region: 'moon-1' does not match the pattern"),
        ({"compute": {"instancetype": "m5.large"}}, "spec.parameters.compute.instancetype: unknown field"),
    ],
    ids=["ASG min above desired", "ASG desired above max", "more NAT gateways than AZs",
         "user tags may not override discovery tags", "table names are DynamoDB-safe and lowercase",
         "index names follow DynamoDB's rule", "readers are capped at Aurora's 15",
         "instance classes are db.*", "a secondary region needs its VPC CIDR", "a cache has at least one shard",
         "log retention is one CloudWatch allows", "regions look like regions", "typos are refused"],
)
def test_invalid_parameters_are_refused_naming_the_field(parameters, wanted):
    messages = [str(e) for e in parameter_errors(defaulted_parameters(parameters))]
    assert any(wanted in m for m in messages), messages


def test_the_xr_validates_as_a_whole_object():
    schema = xr_schema()
    obj = apply_defaults(schema, {"spec": {"parameters": {}}})
    assert validate(schema, obj) == []

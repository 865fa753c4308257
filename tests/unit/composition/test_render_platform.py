"""The whole platform renders from each example into objects the real CRDs accept, with
references that resolve, and a parameter change touches only the objects it should."""

from __future__ import annotations

import collections

import pytest

from tap_optimizer.composition.render import platform as module
from tap_optimizer.composition.render.common import COMPONENT_TAG, PLATFORM_TAG
from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.crds import object_errors
from tests.support.platforms import diff, example, with_parameters

EXAMPLES = ["tap-prod", "tap-small"]


@pytest.fixture(scope="module")
def prod() -> dict:
    return render_platform(example("tap-prod"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_rendered_object_validates_against_its_upstream_crd(name):
    rendered = render_platform(example(name))
    assert {key: errors for key, obj in rendered.items() if (errors := object_errors(obj))} == {}


def references(node, path=""):
    """Every (path, name) of a provider reference (`xRef: {name}`, `xRefs: [{name}]`) in node."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("SecretRef") or key == "providerConfigRef":
                continue  # a Kubernetes Secret or the provider's config, not a composed resource
            if key.endswith("Ref") and isinstance(value, dict):
                yield f"{path}.{key}", value["name"]
            elif key.endswith("Refs") and isinstance(value, list):
                yield from ((f"{path}.{key}[{i}]", ref["name"]) for i, ref in enumerate(value))
            else:
                yield from references(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from references(item, f"{path}[{index}]")


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_reference_names_a_rendered_object(name):
    rendered = render_platform(example(name))
    names = {obj["metadata"]["name"] for obj in rendered.values()}
    dangling = [(key, path, ref) for key, obj in rendered.items()
                for path, ref in references(obj["spec"]) if ref not in names]
    assert dangling == []
    assert sum(1 for obj in rendered.values() for _ in references(obj["spec"])) > 50


def test_object_names_are_unique_and_derive_from_the_platform(prod):
    names = [obj["metadata"]["name"] for obj in prod.values()]
    assert len(names) == len(set(names))
    assert all(name.startswith("tap-prod-") for name in names)


def test_every_tagged_resource_carries_the_discovery_tags(prod):
    tagged = [obj for obj in prod.values() if "tags" in obj["spec"]["forProvider"]]
    assert len(tagged) > len(prod) / 2
    for obj in tagged:
        tags = obj["spec"]["forProvider"]["tags"]
        assert tags[PLATFORM_TAG] == "tap-prod" and tags[COMPONENT_TAG]
        assert tags["Environment"] == "production"
    assert all(obj["metadata"]["labels"][PLATFORM_TAG] == "tap-prod" for obj in prod.values())


def test_secondary_region_resources_live_in_their_region(prod):
    regions = collections.Counter(obj["spec"]["forProvider"].get("region", "global") for obj in prod.values())
    assert set(regions) == {"us-east-1", "us-west-2", "eu-west-1", "global"}  # IAM is global
    assert regions["us-west-2"] == regions["eu-west-1"] > 0


CHANGES = [
    pytest.param({"database__readerCount": 1}, {"removed": {"database-reader-1"}},
                 id="readerCount 2 -> 1 removes exactly the highest reader"),
    pytest.param({"database__readerCount": 3}, {"added": {"database-reader-2"}},
                 id="readerCount 2 -> 3 adds exactly one reader"),
    pytest.param({"database__writerInstanceClass": "db.r6g.xlarge"}, {"modified": {"database-writer"}},
                 id="writer class changes only the writer instance"),
    pytest.param({"database__backupRetentionDays": 14}, {"modified": {"database-cluster"}},
                 id="backup retention changes only the cluster"),
    pytest.param({"cache__nodeType": "cache.r6g.xlarge"}, {"modified": {"cache-replication-group"}},
                 id="cache node type changes the same replication group"),
    pytest.param({"cache__shards": 2}, {"modified": {"cache-replication-group"}},
                 id="cache shard count changes the same replication group"),
    pytest.param({"compute__instanceType": "m5.2xlarge"}, {"modified": {"compute-launch-template"}},
                 id="instanceType changes only the launch template"),
    pytest.param({"compute__minSize": 6, "compute__desiredCapacity": 8, "compute__maxSize": 15},
                 {"modified": {"compute-asg"}}, id="ASG sizes change only the ASG"),
]


@pytest.mark.parametrize(("changes", "wanted"), CHANGES)
def test_a_parameter_change_touches_only_its_objects(prod, changes, wanted):
    after = render_platform(with_parameters(example("tap-prod"), **changes))
    assert diff(prod, after) == {"added": set(), "removed": set(), "modified": set(), **wanted}


def test_removing_one_gsi_changes_only_that_tables_index_list(prod):
    tables = defaulted_parameters({})["tables"]
    del tables["users"]["globalSecondaryIndexes"]["ByRole"]
    after = render_platform(with_parameters(example("tap-prod"), tables=tables))
    assert diff(prod, after) == {"added": set(), "removed": set(), "modified": {"table-users"}}
    before_fp, after_fp = prod["table-users"]["spec"]["forProvider"], after["table-users"]["spec"]["forProvider"]
    changed = {k for k in before_fp.keys() | after_fp.keys() if before_fp.get(k) != after_fp.get(k)}
    assert changed <= {"globalSecondaryIndex", "attribute"}
    assert [g["name"] for g in after_fp["globalSecondaryIndex"]] == ["ByEmail", "ByStatus", "ByTenant"]


def test_emptying_secondary_regions_removes_exactly_their_resources(prod):
    after = render_platform(with_parameters(example("tap-prod"), database__secondaryRegions=[]))
    secondary = {key for key in prod if key.startswith("secondary-")}
    assert len(secondary) >= 2 * 5
    assert diff(prod, after) == {"added": set(), "removed": secondary, "modified": set()}


def test_clashing_renderers_are_a_programming_error(monkeypatch):
    monkeypatch.setattr(module, "RENDERERS", (module.render_network, module.render_network))
    with pytest.raises(RuntimeError, match="reuses composition resource names"):
        render_platform(example("tap-small"))


@pytest.mark.parametrize(
    ("xr", "wanted"),
    [
        ({"metadata": {"name": "Tap_Prod"}, "spec": {}}, "metadata.name: 'Tap_Prod' must be"),
        ({"metadata": {}, "spec": {}}, "metadata.name: None must be"),
        ({"metadata": {"name": "a-platform-name-too-long"}}, "metadata.name"),
        ({"metadata": {"name": "tap"}, "spec": {"parameters": []}}, "spec.parameters: must be an object"),
        ({"metadata": {"name": "tap"}, "spec": {"parameters": {"cache": {"shards": "4"}}}},
         "spec.parameters.cache.shards: '4' is not of type 'integer'"),
        ({"metadata": {"name": "tap"}, "spec": {"parameters": {"network": {"vpcCidr": "10.0.0.1/16"}}}},
         "spec.parameters.network.vpcCidr: '10.0.0.1/16' is not an IPv4 network address"),
        ({"metadata": {"name": "tap"}, "spec": {"parameters": {"database": {"secondaryRegions": [
            {"region": "us-west-2", "vpcCidr": "999.1.0.0/16"}]}}}},
         "spec.parameters.database.secondaryRegions[0].vpcCidr: '999.1.0.0/16' is not an IPv4 network address"),
    ],
    ids=["names are DNS labels", "a name is required", "names leave room for AWS's 32-character LB names",
         "parameters are an object", "types are checked", "a CIDR has no host bits", "octets stay below 256"],
)
def test_invalid_platforms_are_refused_naming_the_field(xr, wanted):
    with pytest.raises(InvalidPlatformError) as refused:
        render_platform(xr)
    assert wanted in str(refused.value)

"""Property-based: any valid parameter set renders into objects the real CRDs accept; any
invalid one gives InvalidPlatformError (a Fatal result) naming a field, never another exception."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tests.support.crds import object_errors

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
DB_CLASSES = ["db.r6g.large", "db.r6g.xlarge", "db.r6g.4xlarge", "db.r7g.2xlarge"]
ATTRIBUTE = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)


@st.composite
def compute(draw):
    low, mid, high = sorted(draw(st.lists(st.integers(1, 40), min_size=3, max_size=3)))
    return {"instanceType": draw(st.sampled_from(["m5.large", "m5.2xlarge", "c6i.xlarge"])),
            "minSize": low, "desiredCapacity": mid, "maxSize": high}


@st.composite
def secondary_regions(draw, primary):
    regions = draw(st.lists(st.sampled_from([r for r in REGIONS if r != primary]), unique=True, max_size=3))
    return [{"region": r, "vpcCidr": f"10.{i + 1}.0.0/16", "instanceCount": draw(st.integers(1, 3))}
            for i, r in enumerate(regions)]


def table():
    projection = st.sampled_from(["ALL", "KEYS_ONLY"])
    index = st.fixed_dictionaries({"hashKey": ATTRIBUTE}, optional={"rangeKey": ATTRIBUTE, "projection": projection})
    return st.fixed_dictionaries(
        {"hashKey": ATTRIBUTE},
        optional={"rangeKey": ATTRIBUTE, "streamEnabled": st.booleans(),
                  "globalSecondaryIndexes": st.dictionaries(st.sampled_from(["ByA", "ByB", "ByCc", "By_d"]),
                                                            index, max_size=4)})


@st.composite
def valid_parameters(draw):
    region = draw(st.sampled_from(REGIONS))
    zones = draw(st.lists(st.sampled_from("abcdef"), min_size=2, max_size=6, unique=True))
    return {
        "region": region,
        "network": {"availabilityZones": zones, "natGateways": draw(st.integers(1, len(zones))),
                    "vpcCidr": draw(st.sampled_from(["10.0.0.0/16", "172.16.0.0/19"]))},
        "database": {"readerCount": draw(st.integers(0, 15)), "writerInstanceClass": draw(st.sampled_from(DB_CLASSES)),
                     "monitoringIntervalSeconds": draw(st.sampled_from([0, 1, 60])),
                     "secondaryRegions": draw(secondary_regions(region))},
        "compute": draw(compute()),
        "cache": {"shards": draw(st.integers(1, 10)), "replicasPerShard": draw(st.integers(1, 5))},
        "tables": draw(st.dictionaries(st.sampled_from(["tenants", "users", "audit_logs", "t2"]), table(), max_size=4)),
        "loadBalancer": {"certificateArn": draw(st.sampled_from(
            ["", "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f"]))},
        "applyImmediately": draw(st.booleans()),
    }


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_parameters())
def test_valid_parameters_always_render_objects_the_crds_accept(parameters):
    rendered = render_platform({"metadata": {"name": "tap-prop"}, "spec": {"parameters": parameters}})
    assert {key: errors for key, obj in rendered.items() if (errors := object_errors(obj))} == {}
    assert sum(key.startswith("database-reader-") for key in rendered) == parameters["database"]["readerCount"]


JUNK = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
FIELDS = ["region", "network", "database", "compute", "cache", "tables", "loadBalancer", "tags", "applyImmediately"]


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JUNK, max_size=4))
def test_invalid_parameters_always_give_a_message_naming_a_field(parameters):
    try:
        render_platform({"metadata": {"name": "tap-prop"}, "spec": {"parameters": parameters}})
    except InvalidPlatformError as refused:
        assert refused.errors
        assert all(str(e).startswith("spec.parameters") for e in refused.errors), refused.errors


@settings(max_examples=100, deadline=None)
@given(valid_parameters(), st.sampled_from([
    ("database", "readerCount", -1), ("database", "readerCount", "two"), ("compute", "minSize", 10**4),
    ("cache", "nodeType", "r6g.large"), ("network", "natGateways", 7), ("database", "backupRetentionDays", 0),
    ("network", "vpcCidr", "10.0.0.0/8"), ("loadBalancer", "idleTimeoutSeconds", 0), ("cache", "shards", 1.5),
]))
def test_one_bad_field_is_named_in_the_refusal(parameters, bad):
    section, field, value = bad
    parameters[section][field] = value
    try:
        render_platform({"metadata": {"name": "tap-prop"}, "spec": {"parameters": parameters}})
    except InvalidPlatformError as refused:
        assert any(f"spec.parameters.{section}" in str(e) for e in refused.errors), refused.errors
    else:
        raise AssertionError(f"{section}.{field}={value!r} was accepted")

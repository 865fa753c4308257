"""Adopting a platform that already runs: external names from spec.parameters.externalNames, and
observe-only management of every composed resource while it is being adopted."""

from __future__ import annotations

import pytest

from tap_optimizer.composition.render.common import EXTERNAL_NAME
from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tests.support.crds import object_errors
from tests.support.platforms import example, with_parameters

ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/TapSt-TapAl-1A2B/50dc6c495c0c9188"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/tap-dev-api-tg/73e2d6bc24d8a067"
ADOPTED = {
    "table-tenants": "tap-dev-tenants",
    "cache-replication-group": "tap-dev-redis",
    "database-global": "tap-dev-global",
    "database-cluster": "tap-dev-aurora",
    "database-writer": "tap-dev-aurora-writer",
    "compute-asg": "tap-dev-asg",
    "lb-alb": ALB_ARN,
    "lb-tg-api": TG_ARN,
    "vpc": "vpc-0abc1234",
    "subnet-private-a": "subnet-0abc1234",
    "kms-key": "1234abcd-12ab-34cd-56ef-1234567890ab",
}


def adopted(**parameters) -> dict:
    return render_platform(with_parameters(example("tap-prod"), externalNames=ADOPTED, **parameters))


def test_every_adopted_resource_carries_its_external_name_and_the_others_keep_theirs():
    rendered = adopted()
    assert {key: rendered[key]["metadata"]["annotations"][EXTERNAL_NAME] for key in ADOPTED} == ADOPTED
    assert rendered["table-users"]["metadata"]["annotations"][EXTERNAL_NAME] == "tap-prod-users"
    assert "annotations" not in rendered["database-reader-0"]["metadata"]


def test_names_inside_other_resources_follow_the_adopted_ones():
    rendered = adopted()
    cluster = rendered["database-cluster"]["spec"]["forProvider"]
    assert cluster["globalClusterIdentifier"] == "tap-dev-global"
    assert cluster["finalSnapshotIdentifier"] == "tap-dev-aurora-final"
    assert rendered["lb-alb"]["spec"]["forProvider"]["name"] == "TapSt-TapAl-1A2B"
    assert rendered["lb-tg-api"]["spec"]["forProvider"]["name"] == "tap-dev-api-tg"
    alarm = rendered["alarm-database-cpu"]["spec"]["forProvider"]
    assert alarm["dimensions"]["DBClusterIdentifier"] == "tap-dev-aurora"
    dashboard = rendered["dashboard"]["spec"]["forProvider"]["dashboardBody"]
    for name in ("tap-dev-tenants", "tap-dev-redis", "tap-dev-asg", "TapSt-TapAl-1A2B"):
        assert name in dashboard
    assert "tap-prod-cache" not in dashboard and "tap-prod-compute-asg" not in dashboard


def test_observe_only_puts_every_resource_under_observe_and_the_crds_accept_them():
    rendered = adopted(managementMode="ObserveOnly")
    assert {key for key, obj in rendered.items() if obj["spec"].get("managementPolicies") != ["Observe"]} == set()
    assert {key: errors for key, obj in rendered.items() if (errors := object_errors(obj))} == {}


def test_full_management_renders_what_it_rendered_before():
    full = adopted(managementMode="Full")
    assert full == adopted()
    assert {key for key, obj in full.items() if "managementPolicies" in obj["spec"]} == {"compute-asg"}


@pytest.mark.parametrize(("parameters", "field", "allowed"), [
    ({"externalNames": {"table-orders": "orders"}}, "spec.parameters.externalNames.table-orders",
     "names no rendered resource"),
    ({"externalNames": {"Compute ASG": "x"}}, "spec.parameters.externalNames", "composition resource names"),
    ({"externalNames": {"vpc": ""}}, "spec.parameters.externalNames.vpc", ""),
    ({"managementMode": "observe"}, "spec.parameters.managementMode", "Full"),
])
def test_a_bad_adoption_field_is_refused_naming_it(parameters, field, allowed):
    with pytest.raises(InvalidPlatformError) as refused:
        render_platform(with_parameters(example("tap-prod"), **parameters))
    assert field in str(refused.value) and allowed in str(refused.value)

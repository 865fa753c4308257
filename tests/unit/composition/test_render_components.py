"""Component renderers: what each parameter drives, and that a change stays inside its objects."""

from __future__ import annotations

import pytest

from tap_optimizer.composition.render.compute import render_compute
from tap_optimizer.composition.render.loadbalancer import render_load_balancer
from tap_optimizer.composition.render.network import render_network, subnet_cidr
from tap_optimizer.composition.render.tables import render_tables
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-4e5f"


def test_three_zones_give_nine_subnets_at_fixed_slots():
    rendered = render_network(make_platform())
    subnets = {k: o["spec"]["forProvider"] for k, o in rendered.items() if o["kind"] == "Subnet"}
    assert len(subnets) == 9
    assert subnets["subnet-public-a"]["cidrBlock"] == "10.0.0.0/24"
    assert subnets["subnet-private-b"]["cidrBlock"] == "10.0.7.0/24"
    assert subnets["subnet-isolated-c"]["cidrBlock"] == "10.0.14.0/24"
    assert subnets["subnet-private-b"]["availabilityZone"] == "us-east-1b"
    assert rendered["subnet-isolated-c"]["metadata"]["labels"]["tap.io/subnet-tier"] == "isolated"


def test_removing_a_zone_leaves_the_other_zones_subnets_alone():
    before = render_network(make_platform())
    after = render_network(make_platform(network={"availabilityZones": ["a", "b"], "natGateways": 2}))
    assert {k for k in diff(before, after)["removed"] if k.startswith("subnet-")} == {
        "subnet-public-c", "subnet-private-c", "subnet-isolated-c"}
    assert not {k for k in diff(before, after)["modified"] if k.startswith("subnet-")}


def test_fewer_nat_gateways_re_point_only_the_private_routes_of_the_other_zones():
    before, after = render_network(make_platform()), render_network(make_platform(network={"natGateways": 1}))
    assert diff(before, after) == {
        "added": set(),
        "removed": {"nat-eip-1", "nat-eip-2", "nat-gateway-1", "nat-gateway-2"},
        "modified": {"route-private-b-default", "route-private-c-default"},
    }
    route = after["route-private-c-default"]["spec"]["forProvider"]
    assert route["natGatewayIdRef"] == {"name": "tap-prod-nat-gateway-0"}


def test_subnet_slots_fit_a_slash_19_with_six_zones():
    assert subnet_cidr("10.8.0.0/19", "isolated", 5) == "10.8.17.0/24"


@pytest.mark.parametrize(("certificate", "listeners", "rules_on"), [
    ("", {"lb-listener-http"}, "tap-prod-lb-listener-http"),
    (CERTIFICATE, {"lb-listener-http", "lb-listener-https"}, "tap-prod-lb-listener-https"),
], ids=["without a certificate, HTTP serves the api", "with a certificate, HTTP redirects to HTTPS"])
def test_listeners_follow_the_certificate(certificate, listeners, rules_on):
    rendered = render_load_balancer(make_platform(loadBalancer={"certificateArn": certificate}))
    assert_valid(rendered)
    assert {k for k in rendered if k.startswith("lb-listener")} == listeners
    assert {r["spec"]["forProvider"]["listenerArnRef"]["name"] for k, r in rendered.items()
            if k.startswith("lb-rule")} == {rules_on}
    default = rendered["lb-listener-http"]["spec"]["forProvider"]["defaultAction"][0]["type"]
    assert default == ("redirect" if certificate else "forward")


def test_target_group_names_fit_aws_limits_for_the_longest_platform_name():
    rendered = render_load_balancer(make_platform(name="a" * 18))
    assert max(len(o["spec"]["forProvider"]["name"]) for k, o in rendered.items() if k.startswith("lb-tg")) <= 32


def test_dropping_the_only_index_on_an_attribute_drops_its_definition():
    tables = {"users": {"hashKey": "user_id", "globalSecondaryIndexes": {"ByRole": {"hashKey": "role"}}}}
    before = render_tables(make_platform(tables=tables))["table-users"]["spec"]["forProvider"]
    tables["users"]["globalSecondaryIndexes"] = {}
    after = render_tables(make_platform(tables=tables))["table-users"]["spec"]["forProvider"]
    assert [a["name"] for a in before["attribute"]] == ["role", "user_id"]
    assert [a["name"] for a in after["attribute"]] == ["user_id"] and "globalSecondaryIndex" not in after


def test_a_disabled_stream_has_no_view_type():
    rendered = render_tables(make_platform(tables={"t": {"hashKey": "id", "streamEnabled": False}}))
    assert_valid(rendered)
    body = rendered["table-t"]["spec"]["forProvider"]
    assert body["streamEnabled"] is False and "streamViewType" not in body
    assert rendered["table-t"]["metadata"]["annotations"]["crossplane.io/external-name"] == "tap-prod-t"


def test_target_groups_and_the_requests_alarm_appear_once_aws_knows_their_arns():
    platform = make_platform()
    assert "compute-alarm-requests-high" not in render_compute(platform)
    observed = {f"lb-tg-{n}": {"arn": f"arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/{n}/1",
                               "arnSuffix": f"targetgroup/{n}/1"} for n in ("api", "admin", "metrics")}
    rendered = render_compute(make_platform().__class__(platform.name, platform.params, observed))
    assert_valid(rendered)
    assert rendered["compute-alarm-requests-high"]["spec"]["forProvider"]["dimensions"] == {
        "TargetGroup": "targetgroup/api/1"}
    assert [s["identifier"] for s in rendered["compute-asg"]["spec"]["forProvider"]["trafficSource"]] == [
        observed[k]["arn"] for k in sorted(observed)]

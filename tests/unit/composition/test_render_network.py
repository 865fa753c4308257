"""The VPC renderer: subnets at fixed /24 slots by tier and zone letter, gateways and routes, flow
logs; which objects each network parameter touches; and that every reference resolves to an object
network.py or security.py renders."""

from __future__ import annotations

import collections
import ipaddress
import json
from typing import Any

import pytest

from tap_optimizer.composition.render.common import Platform, Resources
from tap_optimizer.composition.render.network import render_network
from tap_optimizer.composition.render.security import render_security
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_platform import references

TIERS = ("public", "private", "isolated")


def render(**network: Any) -> Resources:
    return render_network(make_platform(network=network))


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


def ref_name(rendered: Resources, key: str, field: str) -> str:
    return for_provider(rendered, key)[field]["name"].removeprefix("tap-prod-")


def subnet_cidrs(rendered: Resources) -> dict[str, str]:
    return {key: obj["spec"]["forProvider"]["cidrBlock"]
            for key, obj in rendered.items() if obj["kind"] == "Subnet"}


def zone_keys(zone: str) -> set[str]:
    """Every object that exists because of one zone (its NAT gateway aside)."""
    return {*(f"subnet-{tier}-{zone}" for tier in TIERS), *(f"route-{tier}-{zone}" for tier in TIERS),
            f"route-table-private-{zone}", f"route-private-{zone}-default"}


@pytest.mark.parametrize(("network", "kinds"), [
    ({}, {"VPC": 1, "Subnet": 9, "InternetGateway": 1, "EIP": 3, "NATGateway": 3, "RouteTable": 5, "Route": 4,
          "RouteTableAssociation": 9, "Group": 1, "Role": 1, "RolePolicy": 1, "FlowLog": 1}),
    ({"availabilityZones": ["a", "b"], "natGateways": 2},
     {"VPC": 1, "Subnet": 6, "InternetGateway": 1, "EIP": 2, "NATGateway": 2, "RouteTable": 4, "Route": 3,
      "RouteTableAssociation": 6, "Group": 1, "Role": 1, "RolePolicy": 1, "FlowLog": 1}),
    ({"vpcCidr": "10.8.0.0/19", "availabilityZones": list("abcdef"), "natGateways": 1},
     {"VPC": 1, "Subnet": 18, "InternetGateway": 1, "EIP": 1, "NATGateway": 1, "RouteTable": 8, "Route": 7,
      "RouteTableAssociation": 18, "Group": 1, "Role": 1, "RolePolicy": 1, "FlowLog": 1}),
], ids=["the reference platform: three zones, three NAT gateways",
        "two zones give six subnets and a private table each",
        "six zones in the smallest VPC allowed share one NAT gateway"])
def test_rendered_objects_validate_with_the_expected_kinds(network, kinds):
    rendered = render(**network)
    assert_valid(rendered)
    assert collections.Counter(obj["kind"] for obj in rendered.values()) == kinds


@pytest.mark.parametrize("platform", [
    make_platform(),
    make_platform("tap-small", network={"availabilityZones": ["a", "c"], "natGateways": 1}),
], ids=["the reference platform", "a platform with two zones and one NAT gateway"])
def test_every_reference_names_an_object_of_network_or_security(platform: Platform):
    rendered = {**render_network(platform), **render_security(platform)}
    names = {obj["metadata"]["name"] for obj in rendered.values()}
    found = [(key, path, name) for key, obj in rendered.items() for path, name in references(obj["spec"])]
    assert [ref for ref in found if ref[2] not in names] == []
    assert len(found) > 40


@pytest.mark.parametrize(("network", "wanted"), [
    ({}, {"subnet-public-a": "10.0.0.0/24", "subnet-public-c": "10.0.2.0/24",
          "subnet-private-a": "10.0.6.0/24", "subnet-private-b": "10.0.7.0/24",
          "subnet-isolated-a": "10.0.12.0/24", "subnet-isolated-c": "10.0.14.0/24"}),
    ({"vpcCidr": "10.8.0.0/19", "availabilityZones": list("abcdef")},
     {"subnet-public-f": "10.8.5.0/24", "subnet-private-f": "10.8.11.0/24",
      "subnet-isolated-f": "10.8.17.0/24"}),
    ({"vpcCidr": "172.16.64.0/18"},
     {"subnet-public-a": "172.16.64.0/24", "subnet-isolated-c": "172.16.78.0/24"}),
    ({"availabilityZones": ["a", "c"], "natGateways": 2},
     {"subnet-public-c": "10.0.2.0/24", "subnet-private-c": "10.0.8.0/24",
      "subnet-isolated-c": "10.0.14.0/24"}),
    ({"availabilityZones": ["c", "b", "a"]},
     {"subnet-public-a": "10.0.0.0/24", "subnet-isolated-c": "10.0.14.0/24"}),
], ids=["the reference slots: public 0-5, private 6-11, isolated 12-17",
        "six zones fit a /19", "slots count from the VPC's own network",
        "a zone keeps its addresses when the zone before it goes",
        "the order of the zones does not move any subnet"])
def test_subnets_take_fixed_slots_by_tier_and_zone_letter(network, wanted):
    rendered = render(**network)
    cidrs = subnet_cidrs(rendered)
    assert {key: cidrs[key] for key in wanted} == wanted
    vpc = ipaddress.IPv4Network(for_provider(rendered, "vpc")["cidrBlock"])
    blocks = [ipaddress.IPv4Network(cidr) for cidr in cidrs.values()]
    assert all(block.subnet_of(vpc) for block in blocks)
    assert len(set(blocks)) == len(blocks) == 3 * len(network.get("availabilityZones", "abc"))


def test_a_zone_letter_without_a_slot_is_refused():
    with pytest.raises(ValueError, match="zone 'g' is not one of a, b, c, d, e, f"):
        render(availabilityZones=["a", "g"], natGateways=1)


@pytest.mark.parametrize("tier", TIERS)
def test_subnets_carry_their_zone_tier_label_and_public_addressing(tier):
    network = {"availabilityZones": ["b", "c"], "natGateways": 1}
    rendered = render_network(make_platform(region="eu-west-1", network=network))
    for zone in ("b", "c"):
        subnet = rendered[f"subnet-{tier}-{zone}"]
        body = subnet["spec"]["forProvider"]
        assert body["availabilityZone"] == f"eu-west-1{zone}"
        assert body["mapPublicIpOnLaunch"] is (tier == "public")
        assert body["vpcIdRef"] == {"name": "tap-prod-vpc"}
        assert subnet["metadata"]["labels"]["tap.io/subnet-tier"] == tier
        assert subnet["metadata"]["labels"]["tap.io/component"] == "network"


def test_the_vpc_carries_its_network_and_dns():
    body = for_provider(render(vpcCidr="10.40.0.0/16"), "vpc")
    assert body["cidrBlock"] == "10.40.0.0/16"
    assert body["enableDnsHostnames"] is body["enableDnsSupport"] is True


@pytest.mark.parametrize(("network", "nat_subnets", "private_routes"), [
    ({}, ["a", "b", "c"], {"a": 0, "b": 1, "c": 2}),
    ({"natGateways": 1}, ["a"], {"a": 0, "b": 0, "c": 0}),
    ({"natGateways": 2}, ["a", "b"], {"a": 0, "b": 1, "c": 1}),
    ({"availabilityZones": ["c", "a", "b"], "natGateways": 2}, ["c", "a"], {"c": 0, "a": 1, "b": 1}),
], ids=["one NAT gateway per zone", "one NAT gateway serves every zone",
        "a zone without a NAT gateway uses the last one", "NAT gateways follow the zones' order"])
def test_nat_gateways_sit_in_the_first_zones_and_serve_private_routes(network, nat_subnets, private_routes):
    rendered = render(**network)
    for index, zone in enumerate(nat_subnets):
        assert ref_name(rendered, f"nat-gateway-{index}", "subnetIdRef") == f"subnet-public-{zone}"
        assert ref_name(rendered, f"nat-gateway-{index}", "allocationIdRef") == f"nat-eip-{index}"
        assert for_provider(rendered, f"nat-eip-{index}")["domain"] == "vpc"
    assert sorted(k for k in rendered if k.startswith("nat-gateway-")) == [
        f"nat-gateway-{i}" for i in range(len(nat_subnets))]
    for zone, index in private_routes.items():
        route = for_provider(rendered, f"route-private-{zone}-default")
        assert route["destinationCidrBlock"] == "0.0.0.0/0"
        assert (route["routeTableIdRef"]["name"], route["natGatewayIdRef"]["name"]) == (
            f"tap-prod-route-table-private-{zone}", f"tap-prod-nat-gateway-{index}")


def test_public_subnets_route_to_the_internet_and_isolated_subnets_nowhere():
    rendered = render()
    public = for_provider(rendered, "route-public-default")
    assert (public["routeTableIdRef"], public["gatewayIdRef"], public["destinationCidrBlock"]) == (
        {"name": "tap-prod-route-table-public"}, {"name": "tap-prod-internet-gateway"}, "0.0.0.0/0")
    assert ref_name(rendered, "internet-gateway", "vpcIdRef") == "vpc"
    routes = {ref_name(rendered, k, "routeTableIdRef") for k, o in rendered.items() if o["kind"] == "Route"}
    assert routes == {"route-table-public", *(f"route-table-private-{z}" for z in "abc")}


def test_each_subnet_is_associated_with_its_tiers_table():
    rendered = render()
    associations = {ref_name(rendered, k, "subnetIdRef"): ref_name(rendered, k, "routeTableIdRef")
                    for k, o in rendered.items() if o["kind"] == "RouteTableAssociation"}
    assert associations == {
        **{f"subnet-public-{z}": "route-table-public" for z in "abc"},
        **{f"subnet-private-{z}": f"route-table-private-{z}" for z in "abc"},
        **{f"subnet-isolated-{z}": "route-table-isolated" for z in "abc"},
    }


def test_flow_logs_record_all_traffic_to_an_encrypted_group_through_a_dedicated_role():
    rendered = render(flowLogRetentionDays=30)
    group = for_provider(rendered, "flow-log-group")
    assert (group["retentionInDays"], group["kmsKeyIdRef"]) == (30, {"name": "tap-prod-kms-key"})
    flow_log = for_provider(rendered, "flow-log")
    assert (flow_log["trafficType"], flow_log["logDestinationType"]) == ("ALL", "cloud-watch-logs")
    fields = ("vpcIdRef", "logDestinationRef", "iamRoleArnRef")
    assert [ref_name(rendered, "flow-log", f) for f in fields] == ["vpc", "flow-log-group", "flow-log-role"]
    trust = json.loads(for_provider(rendered, "flow-log-role")["assumeRolePolicy"])["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                      "Action": "sts:AssumeRole"}]
    assert ref_name(rendered, "flow-log-role-policy", "roleRef") == "flow-log-role"
    (grant,) = json.loads(for_provider(rendered, "flow-log-role-policy")["policy"])["Statement"]
    assert set(grant["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups",
                                    "logs:DescribeLogStreams"}


@pytest.mark.parametrize(("network", "wanted"), [
    ({"natGateways": 1}, {"removed": {"nat-eip-1", "nat-eip-2", "nat-gateway-1", "nat-gateway-2"},
                          "modified": {"route-private-b-default", "route-private-c-default"}}),
    ({"natGateways": 2},
     {"removed": {"nat-eip-2", "nat-gateway-2"}, "modified": {"route-private-c-default"}}),
    ({"flowLogRetentionDays": 365}, {"modified": {"flow-log-group"}}),
    ({"vpcCidr": "10.9.0.0/16"},
     {"modified": {"vpc", *(f"subnet-{t}-{z}" for t in TIERS for z in "abc")}}),
    ({"availabilityZones": ["a", "b"], "natGateways": 2},
     {"removed": zone_keys("c") | {"nat-eip-2", "nat-gateway-2"}}),
    ({"availabilityZones": ["a", "b", "c", "d"]}, {"added": zone_keys("d")}),
    ({"availabilityZones": ["c", "b", "a"]},
     {"modified": {"nat-gateway-0", "nat-gateway-2", "route-private-a-default", "route-private-c-default"}}),
], ids=["natGateways 3 -> 1 drops gateways 1 and 2 and re-points zones b and c only",
        "natGateways 3 -> 2 drops gateway 2 and re-points zone c only",
        "flow-log retention changes only the log group",
        "a new VPC network re-addresses the VPC and its subnets only",
        "dropping the last zone removes exactly its objects and its NAT gateway",
        "adding a zone adds exactly its objects, without a NAT gateway",
        "reordering the zones moves NAT gateways and their routes, never a subnet"])
def test_a_network_change_touches_only_its_objects(network, wanted):
    unchanged = {"added": set(), "removed": set(), "modified": set()}
    assert diff(render(), render(**network)) == {**unchanged, **wanted}


def test_fewer_nat_gateways_re_point_the_other_zones_to_the_remaining_gateway():
    before, after = render(), render(natGateways=1)
    targets = [ref_name(after, f"route-private-{z}-default", "natGatewayIdRef") for z in "abc"]
    assert targets == ["nat-gateway-0"] * 3
    for zone in "bc":
        old, new = (for_provider(r, f"route-private-{zone}-default") for r in (before, after))
        assert {field for field in old if old[field] != new[field]} == {"natGatewayIdRef"}


def test_objects_are_labelled_and_tagged_with_their_component():
    rendered = render()
    components = {obj["metadata"]["labels"]["tap.io/component"] for obj in rendered.values()}
    assert components == {"network", "flow-logs"}
    assert for_provider(rendered, "flow-log-group")["tags"]["tap.io/component"] == "flow-logs"

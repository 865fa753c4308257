"""The VPC: a public, a private and an isolated subnet in each availability zone, the internet
and NAT gateways, the route tables, and flow logs of all traffic.

Subnet addresses: each subnet is a /24 at a fixed slot of the VPC network, chosen by its tier and
its zone's letter (a=0 .. f=5), not by the zone's position in the list: public subnets take /24
numbers 0-5, private ones 6-11, isolated ones 12-17. A subnet's CIDR cannot change in place (AWS
replaces the subnet, which fails while anything runs in it), so a zone keeps its addresses
whatever other zones are added, removed or reordered. The 18 slots fit the smallest VPC allowed,
a /19 (32 /24s); a /20 (16 /24s) could not hold three tiers of six zones under any scheme. No AWS
region has a zone beyond f.

NAT gateways, by contrast, are counted (`network.natGateways`, "one per AZ from the first"), so
they are index-keyed (`nat-gateway-0` ..): lowering the count drops the highest ones, and only the
private routes of the zones that used them are re-pointed, to the last remaining gateway.
"""

from __future__ import annotations

import ipaddress

from tap_optimizer.composition.render.common import (
    Platform,
    Resources,
    managed,
    policy_document,
    service_role,
    zones,
)

ZONE_LETTERS = "abcdef"
TIER_FIRST_SLOT = {"public": 0, "private": len(ZONE_LETTERS), "isolated": 2 * len(ZONE_LETTERS)}
TIER_LABEL = "tap.io/subnet-tier"  # other components may select subnets by it
ANYWHERE = "0.0.0.0/0"
FLOW_LOG_ACTIONS = [
    "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams",
]

Target = dict[str, dict[str, str]]  # the gateway field of a route, e.g. {"gatewayIdRef": {...}}


def zone_slot(zone: str) -> int:
    """The zone's position among the letters AWS uses, which fixes its subnets' slots."""
    if zone not in ZONE_LETTERS:
        raise ValueError(f"network.availabilityZones: zone {zone!r} is not one of {', '.join(ZONE_LETTERS)}")
    return ZONE_LETTERS.index(zone)


def subnet_cidr(vpc_cidr: str, tier: str, slot: int) -> str:
    """The /24 of the zone at `slot` (see `zone_slot`) in a tier."""
    return str(list(ipaddress.IPv4Network(vpc_cidr).subnets(new_prefix=24))[TIER_FIRST_SLOT[tier] + slot])


def render_network(platform: Platform) -> Resources:
    return {
        **_vpc(platform),
        **_subnets(platform),
        **_gateways(platform),
        **_public_routes(platform),
        **_private_routes(platform),
        **_isolated_routes(platform),
        **_flow_logs(platform),
    }


def _vpc(platform: Platform) -> Resources:
    return {"vpc": managed(platform, "vpc", "ec2/VPC", {
        "cidrBlock": platform.params["network"]["vpcCidr"],
        "enableDnsHostnames": True,
        "enableDnsSupport": True,
    }, component="network")}


def _subnets(platform: Platform) -> Resources:
    out = {}
    for zone in zones(platform):
        for tier in TIER_FIRST_SLOT:
            key = f"subnet-{tier}-{zone}"
            subnet = managed(platform, key, "ec2/Subnet", {
                "vpcIdRef": platform.ref("vpc"),
                "cidrBlock": subnet_cidr(platform.params["network"]["vpcCidr"], tier, zone_slot(zone)),
                "availabilityZone": f"{platform.region}{zone}",
                "mapPublicIpOnLaunch": tier == "public",
            }, component="network")
            subnet["metadata"]["labels"][TIER_LABEL] = tier
            out[key] = subnet
    return out


def _gateways(platform: Platform) -> Resources:
    """The internet gateway, and an elastic IP and a NAT gateway in each of the first natGateways
    zones' public subnets."""
    out = {"internet-gateway": managed(platform, "internet-gateway", "ec2/InternetGateway",
                                       {"vpcIdRef": platform.ref("vpc")}, component="network")}
    for index, zone in enumerate(zones(platform)[: platform.params["network"]["natGateways"]]):
        out[f"nat-eip-{index}"] = managed(platform, f"nat-eip-{index}", "ec2/EIP", {"domain": "vpc"},
                                          component="network")
        out[f"nat-gateway-{index}"] = managed(platform, f"nat-gateway-{index}", "ec2/NATGateway", {
            "allocationIdRef": platform.ref(f"nat-eip-{index}"),
            "subnetIdRef": platform.ref(f"subnet-public-{zone}"),
            "connectivityType": "public",
        }, component="network")
    return out


def _public_routes(platform: Platform) -> Resources:
    """One table for every public subnet, whose default route is the internet gateway."""
    out = {
        **_route_table(platform, "route-table-public"),
        **_default_route(platform, "route-public-default", "route-table-public",
                         {"gatewayIdRef": platform.ref("internet-gateway")}),
    }
    for zone in zones(platform):
        out.update(_association(platform, f"route-public-{zone}", "route-table-public",
                                f"subnet-public-{zone}"))
    return out


def _private_routes(platform: Platform) -> Resources:
    """A table per zone, so each private subnet leaves through the NAT gateway of its zone, or the
    last one when its zone has none."""
    last = platform.params["network"]["natGateways"] - 1
    out: Resources = {}
    for index, zone in enumerate(zones(platform)):
        table = f"route-table-private-{zone}"
        out.update(_route_table(platform, table))
        out.update(_default_route(platform, f"route-private-{zone}-default", table,
                                  {"natGatewayIdRef": platform.ref(f"nat-gateway-{min(index, last)}")}))
        out.update(_association(platform, f"route-private-{zone}", table, f"subnet-private-{zone}"))
    return out


def _isolated_routes(platform: Platform) -> Resources:
    """Isolated subnets (the databases) share a table without a default route: no way out of the VPC."""
    out = _route_table(platform, "route-table-isolated")
    for zone in zones(platform):
        out.update(_association(platform, f"route-isolated-{zone}", "route-table-isolated",
                                f"subnet-isolated-{zone}"))
    return out


def _route_table(platform: Platform, key: str) -> Resources:
    return {key: managed(platform, key, "ec2/RouteTable", {"vpcIdRef": platform.ref("vpc")},
                         component="network")}


def _default_route(platform: Platform, key: str, table: str, target: Target) -> Resources:
    return {key: managed(platform, key, "ec2/Route", {
        "routeTableIdRef": platform.ref(table), "destinationCidrBlock": ANYWHERE, **target,
    }, component="network", tagged=False)}


def _association(platform: Platform, key: str, table: str, subnet: str) -> Resources:
    return {key: managed(platform, key, "ec2/RouteTableAssociation", {
        "routeTableIdRef": platform.ref(table), "subnetIdRef": platform.ref(subnet),
    }, component="network", tagged=False)}


def _flow_logs(platform: Platform) -> Resources:
    """All VPC traffic to a log group encrypted with the platform key (whose policy lets CloudWatch
    Logs use it, see security.py), written by a role only the flow-log service can assume."""
    return {
        "flow-log-group": managed(platform, "flow-log-group", "cloudwatchlogs/Group", {
            "retentionInDays": platform.params["network"]["flowLogRetentionDays"],
            "kmsKeyIdRef": platform.ref("kms-key"),
        }, component="flow-logs"),
        "flow-log-role": service_role(platform, "flow-log-role", "vpc-flow-logs.amazonaws.com", "VPC flow logs",
                                      "flow-logs"),
        "flow-log-role-policy": managed(platform, "flow-log-role-policy", "iam/RolePolicy", {
            "roleRef": platform.ref("flow-log-role"),
            "policy": policy_document({"Effect": "Allow", "Action": FLOW_LOG_ACTIONS, "Resource": "*"}),
        }, component="flow-logs", tagged=False),
        "flow-log": managed(platform, "flow-log", "ec2/FlowLog", {
            "vpcIdRef": platform.ref("vpc"),
            "trafficType": "ALL",
            "logDestinationType": "cloud-watch-logs",
            "logDestinationRef": platform.ref("flow-log-group"),
            "iamRoleArnRef": platform.ref("flow-log-role"),
        }, component="flow-logs"),
    }

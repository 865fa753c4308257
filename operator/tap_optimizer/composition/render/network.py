"""The VPC: three tiers of subnets over the availability zones, NAT, routes and flow logs.

Subnets are /24s at fixed slots of the VPC network, so adding or removing an availability zone
never renumbers another zone's subnets: the public subnet of the i-th zone is /24 number i, its
private subnet number 6+i and its isolated subnet number 12+i (a /19 holds the 18 slots of six
zones).
"""

from __future__ import annotations

import ipaddress

from tap_optimizer.composition.render.common import (
    Platform,
    Resources,
    assume_role_policy,
    managed,
    policy_document,
    zones,
)

TIERS = {"public": 0, "private": 6, "isolated": 12}
TIER_LABEL = "tap.io/subnet-tier"
ANYWHERE = "0.0.0.0/0"


def subnet_cidr(vpc_cidr: str, tier: str, index: int) -> str:
    """The /24 of the index-th zone in a tier."""
    network = ipaddress.ip_network(vpc_cidr)
    return str(list(network.subnets(new_prefix=24))[TIERS[tier] + index])


def render_subnets(platform: Platform, vpc_key: str, vpc_cidr: str, tiers: tuple[str, ...],
                   prefix: str = "", region: str | None = None) -> Resources:
    """One subnet per tier and zone, in the VPC `vpc_key` (also used for secondary regions)."""
    region = region or platform.region
    out = {}
    for index, zone in enumerate(zones(platform)):
        for tier in tiers:
            key = f"{prefix}subnet-{tier}-{zone}"
            subnet = managed(platform, key, "ec2/Subnet", {
                "vpcIdRef": platform.ref(vpc_key),
                "cidrBlock": subnet_cidr(vpc_cidr, tier, index),
                "availabilityZone": f"{region}{zone}",
                "mapPublicIpOnLaunch": tier == "public",
            }, component="network", region=region)
            subnet["metadata"]["labels"][TIER_LABEL] = tier
            out[key] = subnet
    return out


def render_vpc(platform: Platform, key: str, cidr: str, region: str | None = None) -> Resources:
    return {key: managed(platform, key, "ec2/VPC", {
        "cidrBlock": cidr, "enableDnsHostnames": True, "enableDnsSupport": True,
    }, component="network", region=region)}


def render_network(platform: Platform) -> Resources:
    cidr = platform.params["network"]["vpcCidr"]
    return {
        **render_vpc(platform, "vpc", cidr),
        **render_subnets(platform, "vpc", cidr, tuple(TIERS)),
        **_internet(platform),
        **_nat(platform),
        **_private_routes(platform),
        **_isolated_routes(platform),
        **_flow_logs(platform),
    }


def _association(platform: Platform, key: str, table: str, subnet: str) -> Resources:
    return {key: managed(platform, key, "ec2/RouteTableAssociation", {
        "routeTableIdRef": platform.ref(table), "subnetIdRef": platform.ref(subnet),
    }, component="network", tagged=False)}


def _table(platform: Platform, key: str) -> Resources:
    return {key: managed(platform, key, "ec2/RouteTable", {"vpcIdRef": platform.ref("vpc")}, component="network")}


def _default_route(platform: Platform, key: str, table: str, target: dict[str, dict[str, str]]) -> Resources:
    return {key: managed(platform, key, "ec2/Route", {
        "routeTableIdRef": platform.ref(table), "destinationCidrBlock": ANYWHERE, **target,
    }, component="network", tagged=False)}


def _internet(platform: Platform) -> Resources:
    out = {
        "internet-gateway": managed(platform, "internet-gateway", "ec2/InternetGateway",
                                    {"vpcIdRef": platform.ref("vpc")}, component="network"),
        **_table(platform, "route-table-public"),
        **_default_route(platform, "route-public-default", "route-table-public",
                         {"gatewayIdRef": platform.ref("internet-gateway")}),
    }
    for zone in zones(platform):
        out.update(_association(platform, f"route-public-{zone}", "route-table-public", f"subnet-public-{zone}"))
    return out


def _nat(platform: Platform) -> Resources:
    """An elastic IP and a NAT gateway in each of the first natGateways public subnets."""
    out = {}
    for index, zone in enumerate(zones(platform)[: platform.params["network"]["natGateways"]]):
        out[f"nat-eip-{index}"] = managed(platform, f"nat-eip-{index}", "ec2/EIP", {"domain": "vpc"},
                                          component="network")
        out[f"nat-gateway-{index}"] = managed(platform, f"nat-gateway-{index}", "ec2/NATGateway", {
            "allocationIdRef": platform.ref(f"nat-eip-{index}"),
            "subnetIdRef": platform.ref(f"subnet-public-{zone}"),
            "connectivityType": "public",
        }, component="network")
    return out


def _private_routes(platform: Platform) -> Resources:
    """Each zone's private subnet leaves through the NAT gateway of its zone, or the last one."""
    out: Resources = {}
    last = platform.params["network"]["natGateways"] - 1
    for index, zone in enumerate(zones(platform)):
        table = f"route-table-private-{zone}"
        out.update(_table(platform, table))
        out.update(_default_route(platform, f"route-private-{zone}-default", table,
                                  {"natGatewayIdRef": platform.ref(f"nat-gateway-{min(index, last)}")}))
        out.update(_association(platform, f"route-private-{zone}", table, f"subnet-private-{zone}"))
    return out


def _isolated_routes(platform: Platform) -> Resources:
    """Isolated subnets (the databases) have no route out of the VPC at all."""
    out = _table(platform, "route-table-isolated")
    for zone in zones(platform):
        out.update(_association(platform, f"route-isolated-{zone}", "route-table-isolated", f"subnet-isolated-{zone}"))
    return out


def _flow_logs(platform: Platform) -> Resources:
    """All VPC traffic to an encrypted log group, written by a role only the flow-log service assumes."""
    return {
        "flow-log-group": managed(platform, "flow-log-group", "cloudwatchlogs/Group", {
            "retentionInDays": platform.params["network"]["flowLogRetentionDays"],
            "kmsKeyIdRef": platform.ref("kms-key"),
        }, component="flow-logs"),
        "flow-log-role": managed(platform, "flow-log-role", "iam/Role", {
            "assumeRolePolicy": assume_role_policy("vpc-flow-logs.amazonaws.com"),
            "description": f"VPC flow logs of TAP platform {platform.name}",
        }, component="flow-logs"),
        "flow-log-role-policy": managed(platform, "flow-log-role-policy", "iam/RolePolicy", {
            "roleRef": platform.ref("flow-log-role"),
            "policy": policy_document({"Effect": "Allow", "Resource": "*", "Action": [
                "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogGroups", "logs:DescribeLogStreams"]}),
        }, component="flow-logs", tagged=False),
        "flow-log": managed(platform, "flow-log", "ec2/FlowLog", {
            "vpcIdRef": platform.ref("vpc"),
            "trafficType": "ALL",
            "logDestinationType": "cloud-watch-logs",
            "logDestinationRef": platform.ref("flow-log-group"),
            "iamRoleArnRef": platform.ref("flow-log-role"),
        }, component="flow-logs"),
    }

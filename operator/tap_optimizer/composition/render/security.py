"""The platform's KMS key and its security groups: who may talk to whom.

Least privilege as in the reference: the ALB takes 443/80 from anywhere, the app takes
8080-8090 from the ALB only, MySQL and Redis take connections from the app only.
"""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import Platform, Resources, managed

ANYWHERE = "0.0.0.0/0"

# (key, group, from port, to port, source: a CIDR or another group's key, direction)
RULES: tuple[tuple[str, str, int, int, str, str], ...] = (
    ("sg-alb-ingress-https", "sg-alb", 443, 443, ANYWHERE, "Ingress"),
    ("sg-alb-ingress-http", "sg-alb", 80, 80, ANYWHERE, "Ingress"),
    ("sg-alb-egress-to-app", "sg-alb", 8080, 8090, "sg-app", "Egress"),
    ("sg-app-ingress-from-alb", "sg-app", 8080, 8090, "sg-alb", "Ingress"),
    ("sg-app-egress-anywhere", "sg-app", -1, -1, ANYWHERE, "Egress"),
    ("sg-database-ingress-from-app", "sg-database", 3306, 3306, "sg-app", "Ingress"),
    ("sg-cache-ingress-from-app", "sg-cache", 6379, 6379, "sg-app", "Ingress"),
)
GROUPS = {"sg-alb": "load balancer", "sg-app": "application instances", "sg-database": "Aurora MySQL",
          "sg-cache": "Redis"}


def render_security(platform: Platform) -> Resources:
    return {**render_kms(platform), **_groups(platform), **_rules(platform)}


def render_kms(platform: Platform, prefix: str = "", region: str | None = None) -> Resources:
    """A customer-managed key with yearly rotation (and its alias in the primary region)."""
    key = managed(platform, f"{prefix}kms-key", "kms/Key", {
        "description": f"TAP platform {platform.name} data key{f' ({region})' if region else ''}",
        "enableKeyRotation": True,
        "deletionWindowInDays": 30,
    }, component="kms", region=region)
    if prefix:
        return {f"{prefix}kms-key": key}
    alias = managed(platform, "kms-alias", "kms/Alias", {"targetKeyIdRef": platform.ref("kms-key")},
                    component="kms", tagged=False, external_name=f"alias/{platform.name}")
    return {"kms-key": key, "kms-alias": alias}


def _groups(platform: Platform) -> Resources:
    return {
        key: managed(platform, key, "ec2/SecurityGroup", {
            "description": f"TAP {platform.name}: {what}",
            "vpcIdRef": platform.ref("vpc"),
            "revokeRulesOnDelete": True,
        }, component="security")
        for key, what in GROUPS.items()
    }


def _rules(platform: Platform) -> Resources:
    out = {}
    for key, group, low, high, source, direction in RULES:
        rule: dict[str, Any] = {"securityGroupIdRef": platform.ref(group), "description": key}
        rule.update({"ipProtocol": "-1"} if low < 0 else {"ipProtocol": "tcp", "fromPort": low, "toPort": high})
        if source == ANYWHERE:
            rule["cidrIpv4"] = ANYWHERE
        else:
            rule["referencedSecurityGroupIdRef"] = platform.ref(source)
        out[key] = managed(platform, key, f"ec2/SecurityGroup{direction}Rule", rule, component="security")
    return out

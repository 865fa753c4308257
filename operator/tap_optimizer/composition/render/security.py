"""The platform's KMS key and its security groups: who may talk to whom.

Least privilege as in the reference: the ALB takes 443/80 from anywhere and reaches the app on
8080-8090 only; the app takes 8080-8090 from the ALB only and may reach anything; MySQL and Redis
take connections from the app only and reach nothing (a new group's default allow-all egress is
revoked by the provider). Each rule is its own object, keyed by group, direction and peer, so a
rule changes or goes without touching the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tap_optimizer.composition.render.common import Platform, Resources, managed, policy_document

ANYWHERE = "0.0.0.0/0"
KEY_DELETION_WINDOW_DAYS = 30
KEY_ACTIONS_FOR_LOGS = [
    "kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*",
]
KEY_ACTIONS_FOR_VOLUMES = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
AUTOSCALING_ROLE = "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
GROUPS = {"sg-alb": "load balancer", "sg-app": "application instances", "sg-database": "Aurora MySQL",
          "sg-cache": "Redis"}


@dataclass(frozen=True)
class Rule:
    """One rule of `group`: TCP `ports` (every protocol when None) to or from `peer`, a CIDR or
    the key of another group."""

    key: str
    group: str
    direction: str  # "Ingress" or "Egress", as in the kind's name
    ports: tuple[int, int] | None
    peer: str
    description: str


RULES = (
    Rule("sg-alb-ingress-https", "sg-alb", "Ingress", (443, 443), ANYWHERE, "HTTPS from anywhere"),
    Rule("sg-alb-ingress-http", "sg-alb", "Ingress", (80, 80), ANYWHERE, "HTTP from anywhere"),
    Rule("sg-alb-egress-to-app", "sg-alb", "Egress", (8080, 8090), "sg-app", "to the application ports"),
    Rule("sg-app-ingress-from-alb", "sg-app", "Ingress", (8080, 8090), "sg-alb", "from the load balancer"),
    Rule("sg-app-egress-anywhere", "sg-app", "Egress", None, ANYWHERE, "to anywhere"),
    Rule("sg-database-ingress-from-app", "sg-database", "Ingress", (3306, 3306), "sg-app",
         "MySQL from the app"),
    Rule("sg-cache-ingress-from-app", "sg-cache", "Ingress", (6379, 6379), "sg-app", "Redis from the app"),
)


def render_security(platform: Platform) -> Resources:
    return {**_kms(platform), **_groups(platform), **_rules(platform)}


def _kms(platform: Platform) -> Resources:
    """The platform's customer-managed key, rotated yearly, and its alias `alias/<platform>`."""
    spec: dict[str, Any] = {
        "description": f"TAP platform {platform.name} data key",
        "enableKeyRotation": True,
        "deletionWindowInDays": KEY_DELETION_WINDOW_DAYS,
    }
    policy = _key_policy(platform)
    if policy:
        spec["policy"] = policy
    return {
        "kms-key": managed(platform, "kms-key", "kms/Key", spec, component="kms"),
        "kms-alias": managed(platform, "kms-alias", "kms/Alias", {"targetKeyIdRef": platform.ref("kms-key")},
                             component="kms", tagged=False, external_name=f"alias/{platform.name}"),
    }


def _key_policy(platform: Platform) -> str | None:
    """The key policy: the account administers the key (as in AWS's default policy), and CloudWatch
    Logs of this region may use it for this account's log groups (the flow logs), which the default
    policy does not allow.

    The policy must name the account, which is only known once AWS has created the key: until then
    (None) the key gets AWS's default policy, and the flow-log group's creation is refused and
    retried until this policy is in place.
    """
    arn = platform.observed.get("kms-key", {}).get("arn")
    if not arn:
        return None
    _, partition, _, _, account, _ = arn.split(":", 5)
    log_groups = f"arn:{partition}:logs:{platform.region}:{account}:log-group:*"
    return policy_document(
        {"Sid": "AccountAdministersTheKey", "Effect": "Allow",
         "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "CloudWatchLogsEncryptsLogGroups", "Effect": "Allow",
         "Principal": {"Service": f"logs.{platform.region}.amazonaws.com"},
         "Action": KEY_ACTIONS_FOR_LOGS, "Resource": "*",
         "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}},
        *_autoscaling_statements(platform, partition, account),
    )


def _autoscaling_statements(platform: Platform, partition: str, account: str) -> list[dict[str, Any]]:
    """Auto Scaling launches the instances, whose root volumes this key encrypts, as its
    service-linked role: the role must be allowed to use the key and to grant it to EC2.

    The role exists in an account once its first Auto Scaling group does, and a key policy naming a
    role that does not exist is refused whole (the flow logs' statement with it): so the statements
    come once AWS reports the group. Until then the group's launches fail and are retried.
    """
    if not platform.observed.get("compute-asg", {}).get("arn"):
        return []
    role = {"AWS": f"arn:{partition}:iam::{account}:{AUTOSCALING_ROLE}"}
    return [
        {"Sid": "AutoScalingUsesTheKeyForVolumes", "Effect": "Allow", "Principal": role,
         "Action": KEY_ACTIONS_FOR_VOLUMES, "Resource": "*"},
        {"Sid": "AutoScalingGrantsTheKeyToVolumes", "Effect": "Allow", "Principal": role,
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}}},
    ]


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
    return {rule.key: _rule(platform, rule) for rule in RULES}


def _rule(platform: Platform, rule: Rule) -> dict[str, Any]:
    spec: dict[str, Any] = {"securityGroupIdRef": platform.ref(rule.group), "description": rule.description}
    if rule.ports:
        spec.update(ipProtocol="tcp", fromPort=rule.ports[0], toPort=rule.ports[1])
    else:
        spec["ipProtocol"] = "-1"  # every protocol; AWS then takes no ports
    if rule.peer == ANYWHERE:
        spec["cidrIpv4"] = ANYWHERE
    else:
        spec["referencedSecurityGroupIdRef"] = platform.ref(rule.peer)
    return managed(platform, rule.key, f"ec2/SecurityGroup{rule.direction}Rule", spec, component="security")

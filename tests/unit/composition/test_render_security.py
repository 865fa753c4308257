"""The KMS key and the security groups: which group takes and reaches what, the key's settings and
its policy once AWS reports the account, and that network or database changes leave them alone."""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest

from tap_optimizer.composition.render.common import EXTERNAL_NAME, Platform, Resources
from tap_optimizer.composition.render.security import render_security
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_platform import references

KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ANYWHERE = "0.0.0.0/0"


def observed(platform: Platform, at_provider: dict[str, dict[str, Any]]) -> Platform:
    """The platform as the function sees it once AWS reported these resources."""
    return Platform(platform.name, platform.params, at_provider)


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


def rules_of(rendered: Resources, group: str) -> set[tuple[str, str, int | None, int | None, str]]:
    """(direction, protocol, from port, to port, peer) of every rule of a group; the peer is a CIDR
    or another group's composition key."""
    out = set()
    for obj in rendered.values():
        body = obj["spec"]["forProvider"]
        if obj["kind"].endswith("Rule") and body["securityGroupIdRef"]["name"] == f"tap-prod-{group}":
            group_ref = body.get("referencedSecurityGroupIdRef", {}).get("name", "")
            peer = body.get("cidrIpv4") or group_ref.removeprefix("tap-prod-")
            direction = obj["kind"].removeprefix("SecurityGroup").removesuffix("Rule")
            out.add((direction, body["ipProtocol"], body.get("fromPort"), body.get("toPort"), peer))
    return out


def test_the_default_render_validates_and_references_only_itself_and_the_vpc():
    rendered = render_security(make_platform())
    assert_valid(rendered)
    assert collections.Counter(obj["kind"] for obj in rendered.values()) == {
        "Key": 1, "Alias": 1, "SecurityGroup": 4, "SecurityGroupIngressRule": 5, "SecurityGroupEgressRule": 2}
    names = {obj["metadata"]["name"] for obj in rendered.values()} | {"tap-prod-vpc"}
    assert [ref for obj in rendered.values() for ref in references(obj["spec"]) if ref[1] not in names] == []


@pytest.mark.parametrize(("group", "rules"), [
    ("sg-alb", {("Ingress", "tcp", 443, 443, ANYWHERE), ("Ingress", "tcp", 80, 80, ANYWHERE),
                ("Egress", "tcp", 8080, 8090, "sg-app")}),
    ("sg-app", {("Ingress", "tcp", 8080, 8090, "sg-alb"), ("Egress", "-1", None, None, ANYWHERE)}),
    ("sg-database", {("Ingress", "tcp", 3306, 3306, "sg-app")}),
    ("sg-cache", {("Ingress", "tcp", 6379, 6379, "sg-app")}),
], ids=["the ALB takes HTTPS and HTTP from anywhere and reaches only the app ports",
        "the app takes its ports from the ALB only and may reach anything",
        "MySQL takes 3306 from the app only and reaches nothing",
        "Redis takes 6379 from the app only and reaches nothing"])
def test_each_group_takes_and_reaches_only_what_it_should(group, rules):
    assert rules_of(render_security(make_platform()), group) == rules


RULE_KEYS = [
    ("sg-alb-ingress-https", "SecurityGroupIngressRule", "sg-alb"),
    ("sg-alb-ingress-http", "SecurityGroupIngressRule", "sg-alb"),
    ("sg-alb-egress-to-app", "SecurityGroupEgressRule", "sg-alb"),
    ("sg-app-ingress-from-alb", "SecurityGroupIngressRule", "sg-app"),
    ("sg-app-egress-anywhere", "SecurityGroupEgressRule", "sg-app"),
    ("sg-database-ingress-from-app", "SecurityGroupIngressRule", "sg-database"),
    ("sg-cache-ingress-from-app", "SecurityGroupIngressRule", "sg-cache"),
]


@pytest.mark.parametrize(("key", "kind", "group"), RULE_KEYS, ids=[f"{key} is a rule of {group}"
                                                                    for key, _, group in RULE_KEYS])
def test_rules_are_keyed_by_group_direction_and_peer(key, kind, group):
    rule = render_security(make_platform())[key]
    assert rule["kind"] == kind
    assert rule["spec"]["forProvider"]["securityGroupIdRef"] == {"name": f"tap-prod-{group}"}
    assert rule["spec"]["forProvider"]["description"]


def test_groups_live_in_the_vpc_and_name_the_platform():
    rendered = render_security(make_platform("tap-stage"))
    for key in ("sg-alb", "sg-app", "sg-database", "sg-cache"):
        body = for_provider(rendered, key)
        assert body["vpcIdRef"] == {"name": "tap-stage-vpc"}
        assert body["description"].startswith("TAP tap-stage: ")
        assert body["revokeRulesOnDelete"] is True
        assert body["tags"]["tap.io/component"] == "security"


def test_the_key_rotates_waits_30_days_before_deletion_and_has_an_alias():
    rendered = render_security(make_platform("tap-stage"))
    key = for_provider(rendered, "kms-key")
    assert (key["enableKeyRotation"], key["deletionWindowInDays"]) == (True, 30)
    assert "tap-stage" in key["description"]
    assert key["tags"]["tap.io/component"] == "kms"
    assert rendered["kms-alias"]["metadata"]["annotations"][EXTERNAL_NAME] == "alias/tap-stage"
    assert for_provider(rendered, "kms-alias")["targetKeyIdRef"] == {"name": "tap-stage-kms-key"}
    assert "tags" not in for_provider(rendered, "kms-alias")


@pytest.mark.parametrize("at_provider", [{}, {"kms-key": {}}, {"kms-key": {"keyId": "1234abcd"}}],
                         ids=["before the key exists", "while AWS creates it", "without its ARN yet"])
def test_the_key_has_aws_default_policy_until_aws_reports_its_account(at_provider):
    assert "policy" not in for_provider(render_security(observed(make_platform(), at_provider)), "kms-key")


@pytest.mark.parametrize(("region", "arn", "root", "log_groups"), [
    ("us-east-1", KEY_ARN,
     "arn:aws:iam::123456789012:root", "arn:aws:logs:us-east-1:123456789012:log-group:*"),
    ("cn-north-1", "arn:aws-cn:kms:cn-north-1:210987654321:key/0f",
     "arn:aws-cn:iam::210987654321:root", "arn:aws-cn:logs:cn-north-1:210987654321:log-group:*"),
], ids=["the account of the key's ARN administers it", "the ARN's partition is kept"])
def test_once_the_account_is_known_cloudwatch_logs_may_use_the_key(region, arn, root, log_groups):
    platform = observed(make_platform(region=region), {"kms-key": {"arn": arn}})
    rendered = render_security(platform)
    assert_valid(rendered)
    administer, logs = json.loads(for_provider(rendered, "kms-key")["policy"])["Statement"]
    assert (administer["Principal"], administer["Action"]) == ({"AWS": root}, "kms:*")
    assert administer["Effect"] == logs["Effect"] == "Allow"
    assert logs["Principal"] == {"Service": f"logs.{region}.amazonaws.com"}
    assert {"kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"} <= set(logs["Action"])
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": log_groups}}


def test_once_the_auto_scaling_group_exists_its_service_role_may_encrypt_volumes_with_the_key():
    known = {"kms-key": {"arn": KEY_ARN}}
    before = json.loads(for_provider(render_security(observed(make_platform(), known)), "kms-key")["policy"])
    assert len(before["Statement"]) == 2, "no statement names the role before it can exist"
    group = {"compute-asg": {"arn": "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:1:"
                                    "autoScalingGroupName/tap-stage-compute-asg"}}
    rendered = render_security(observed(make_platform(), {**known, **group}))
    assert_valid(rendered)
    use, grant = json.loads(for_provider(rendered, "kms-key")["policy"])["Statement"][2:]
    role = {"AWS": "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/"
                   "AWSServiceRoleForAutoScaling"}
    assert use["Principal"] == grant["Principal"] == role
    assert {"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"} <= set(use["Action"])
    assert grant["Action"] == "kms:CreateGrant"
    assert grant["Condition"] == {"Bool": {"kms:GrantIsForAWSResource": True}}


def test_learning_the_account_changes_only_the_key():
    platform = make_platform()
    before = render_security(platform)
    after = render_security(observed(platform, {"kms-key": {"arn": KEY_ARN}, "vpc": {"id": "vpc-1"}}))
    assert diff(before, after) == {"added": set(), "removed": set(), "modified": {"kms-key"}}
    old, new = for_provider(before, "kms-key"), for_provider(after, "kms-key")
    assert {field for field in new if old.get(field) != new[field]} == {"policy"}


@pytest.mark.parametrize("parameters", [
    {"network": {"natGateways": 1}},
    {"network": {"availabilityZones": ["a", "b"], "natGateways": 2, "vpcCidr": "10.9.0.0/16"}},
    {"database": {"readerCount": 0, "secondaryRegions": [{"region": "us-west-2", "vpcCidr": "10.1.0.0/16"}]}},
    {"compute": {"instanceType": "m5.2xlarge"}, "cache": {"shards": 2}},
], ids=["fewer NAT gateways", "other zones and VPC network", "database topology", "compute and cache sizes"])
def test_other_components_parameters_leave_security_alone(parameters):
    assert render_security(make_platform(**parameters)) == render_security(make_platform())


def test_user_tags_reach_every_tagged_object():
    rendered = render_security(make_platform(tags={"Environment": "production"}))
    tagged = [key for key, obj in rendered.items() if "tags" in obj["spec"]["forProvider"]]
    assert set(tagged) == set(rendered) - {"kms-alias"}
    assert all(for_provider(rendered, key)["tags"]["Environment"] == "production" for key in tagged)

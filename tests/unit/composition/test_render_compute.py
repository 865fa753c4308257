"""The application tier: what each compute parameter drives, that an instance-type change
touches the launch template only and then rolls out through the group's template version, and
what appears once AWS reports the target groups."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_optimizer.composition.render.common import EXTERNAL_NAME, Platform, Resources
from tap_optimizer.composition.render.compute import render_compute
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_tables import dangling

ELB_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
TARGET_GROUPS = {f"lb-tg-{n}": {"arn": f"{ELB_ARN}:targetgroup/{n}/9f", "arnSuffix": f"targetgroup/{n}/9f"}
                 for n in ("api", "admin", "metrics")}
ALL_OBSERVED = {**TARGET_GROUPS, "compute-launch-template": {"latestVersion": 3.0}}
BASE_KEYS = {"compute-instance-role", "compute-role-policy-ssm", "compute-role-policy-cloudwatch",
             "compute-instance-profile", "compute-launch-template", "compute-asg", "compute-policy-cpu",
             "compute-policy-requests"}


def observed(platform: Platform, at_provider: dict[str, dict[str, Any]]) -> Platform:
    """The platform as the function sees it once AWS reported these resources."""
    return Platform(platform.name, platform.params, at_provider)


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


@pytest.mark.parametrize(("at_provider", "keys"), [
    ({}, BASE_KEYS),
    (ALL_OBSERVED, BASE_KEYS | {"compute-alarm-requests-high"}),
], ids=["before AWS reports anything", "once the target groups exist, with the requests alarm"])
def test_rendered_objects_validate_and_reference_only_known_keys(at_provider, keys):
    platform = observed(make_platform(), at_provider)
    rendered = render_compute(platform)
    assert_valid(rendered)
    assert set(rendered) == keys
    assert dangling(platform, rendered) == []


def test_the_launch_template_carries_type_image_profile_and_hardening():
    template = for_provider(render_compute(make_platform()), "compute-launch-template")
    assert template["instanceType"] == "m5.4xlarge"
    assert template["imageId"].startswith("resolve:ssm:/aws/service/ami-amazon-linux-latest/")
    assert template["iamInstanceProfile"] == {"arnRef": {"name": "tap-prod-compute-instance-profile"}}
    assert template["vpcSecurityGroupIdRefs"] == [{"name": "tap-prod-sg-app"}]
    assert template["metadataOptions"]["httpTokens"] == "required"
    assert template["monitoring"] == {"enabled": True}
    (root,) = template["blockDeviceMappings"]
    assert root["ebs"]["encrypted"] == "true" and root["ebs"]["kmsKeyIdRef"] == {"name": "tap-prod-kms-key"}


def test_the_group_carries_sizes_subnets_health_check_and_rolling_refresh():
    rendered = render_compute(make_platform())
    group = for_provider(rendered, "compute-asg")
    assert (group["minSize"], group["maxSize"]) == (12, 25) and "desiredCapacity" not in group
    spec = rendered["compute-asg"]["spec"]
    assert spec["initProvider"] == {"desiredCapacity": 15}, "set at creation, then the scaling policies own it"
    assert "LateInitialize" not in spec["managementPolicies"]
    assert [ref["name"] for ref in group["vpcZoneIdentifierRefs"]] == [
        f"tap-prod-subnet-private-{z}" for z in "abc"]
    assert (group["healthCheckType"], group["healthCheckGracePeriod"]) == ("ELB", 300)
    assert group["instanceRefresh"]["strategy"] == "Rolling"
    assert group["launchTemplate"]["idRef"] == {"name": "tap-prod-compute-launch-template"}
    assert {"key": "tap.io/platform", "value": "tap-prod", "propagateAtLaunch": True} in group["tag"]
    assert rendered["compute-asg"]["metadata"]["annotations"][EXTERNAL_NAME] == "tap-prod-compute-asg"


@pytest.mark.parametrize(("at_provider", "version"), [
    ({}, "1"),
    ({"compute-launch-template": {"latestVersion": 1}}, "1"),
    ({"compute-launch-template": {"latestVersion": 4.0}}, "4"),
], ids=["a new template's first version before AWS reports it", "the reported version",
        "a protobuf float is a whole version number"])
def test_the_group_runs_the_latest_version_aws_reports(at_provider, version):
    group = for_provider(render_compute(observed(make_platform(), at_provider)), "compute-asg")
    assert group["launchTemplate"]["version"] == version


def test_an_instance_type_change_touches_the_template_then_rolls_out_through_the_group():
    at_provider = {"compute-launch-template": {"latestVersion": 3}}
    before = render_compute(observed(make_platform(), at_provider))
    changed = make_platform(compute={"instanceType": "m5.2xlarge"})
    now = render_compute(observed(changed, at_provider))
    assert diff(before, now)["modified"] == {"compute-launch-template"}
    assert for_provider(now, "compute-launch-template")["instanceType"] == "m5.2xlarge"
    rolled = render_compute(observed(changed, {"compute-launch-template": {"latestVersion": 4}}))
    assert diff(now, rolled)["modified"] == {"compute-asg"}
    assert for_provider(rolled, "compute-asg")["launchTemplate"]["version"] == "4"


CHANGES = [
    pytest.param({"instanceType": "m5.2xlarge"}, {"compute-launch-template"},
                 id="instanceType changes only the launch template"),
    pytest.param({"imageId": "ami-0123456789abcdef0"}, {"compute-launch-template"},
                 id="imageId changes only the launch template"),
    pytest.param({"minSize": 6, "desiredCapacity": 8, "maxSize": 15}, {"compute-asg"},
                 id="min, desired and max change only the group"),
    pytest.param({"healthCheckGraceSeconds": 600}, {"compute-asg"},
                 id="the grace period changes only the group"),
    pytest.param({"targetCpuPercent": 60}, {"compute-policy-cpu"},
                 id="the CPU target changes only its policy"),
    pytest.param({"requestsPerTargetHigh": 2000}, {"compute-policy-requests", "compute-alarm-requests-high"},
                 id="the requests threshold changes its alarm and the policy's steps"),
]


@pytest.mark.parametrize(("changes", "modified"), CHANGES)
def test_a_compute_parameter_changes_only_its_objects(changes, modified):
    before = render_compute(observed(make_platform(), ALL_OBSERVED))
    after = render_compute(observed(make_platform(compute=changes), ALL_OBSERVED))
    assert diff(before, after) == {"added": set(), "removed": set(), "modified": modified}


def test_removing_a_zone_changes_only_the_group_subnets():
    before = render_compute(make_platform())
    after = render_compute(make_platform(network={"availabilityZones": ["a", "b"], "natGateways": 2}))
    assert diff(before, after)["modified"] == {"compute-asg"}
    refs = for_provider(after, "compute-asg")["vpcZoneIdentifierRefs"]
    assert [ref["name"] for ref in refs] == ["tap-prod-subnet-private-a", "tap-prod-subnet-private-b"]
    assert all(ref["policy"] == {"resolve": "Always"} for ref in refs)


def test_scaling_policies_carry_the_cpu_target_and_request_steps():
    rendered = render_compute(make_platform(compute={"targetCpuPercent": 65, "requestsPerTargetHigh": 800}))
    cpu = for_provider(rendered, "compute-policy-cpu")
    requests = for_provider(rendered, "compute-policy-requests")
    assert cpu["policyType"] == "TargetTrackingScaling"
    assert cpu["targetTrackingConfiguration"]["predefinedMetricSpecification"] == {
        "predefinedMetricType": "ASGAverageCPUUtilization"}
    assert cpu["targetTrackingConfiguration"]["targetValue"] == 65
    assert requests["policyType"] == "StepScaling"
    assert [(s["metricIntervalLowerBound"], s.get("metricIntervalUpperBound"), s["scalingAdjustment"])
            for s in requests["stepAdjustment"]] == [("0", "400", 2), ("400", None, 4)]
    assert {p["autoscalingGroupNameRef"]["name"] for p in (cpu, requests)} == {"tap-prod-compute-asg"}


@pytest.mark.parametrize(("at_provider", "sources", "alarm"), [
    ({}, None, False),
    ({"lb-tg-api": {"arn": TARGET_GROUPS["lb-tg-api"]["arn"]}}, None, False),
    ({"lb-tg-api": TARGET_GROUPS["lb-tg-api"]}, [TARGET_GROUPS["lb-tg-api"]["arn"]], True),
    (TARGET_GROUPS, [TARGET_GROUPS[k]["arn"] for k in sorted(TARGET_GROUPS)], True),
], ids=["nothing known: no traffic source, no alarm", "an ARN without its suffix is not enough",
        "the api group alone", "all three groups, in key order"])
def test_target_groups_and_the_requests_alarm_follow_what_aws_reports(at_provider, sources, alarm):
    rendered = render_compute(observed(make_platform(), at_provider))
    traffic = for_provider(rendered, "compute-asg").get("trafficSource")
    assert (None if traffic is None else [s["identifier"] for s in traffic]) == sources
    assert all(s["type"] == "elbv2" for s in traffic or [])
    assert ("compute-alarm-requests-high" in rendered) is alarm


def test_the_requests_alarm_watches_the_api_group_and_triggers_the_step_policy():
    rendered = render_compute(observed(make_platform(compute={"requestsPerTargetHigh": 1500}), ALL_OBSERVED))
    alarm = for_provider(rendered, "compute-alarm-requests-high")
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/ApplicationELB", "RequestCountPerTarget")
    assert alarm["dimensions"] == {"TargetGroup": "targetgroup/api/9f"}
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 1500)
    assert (alarm["statistic"], alarm["period"]) == ("Sum", 60)
    assert alarm["alarmActionsRefs"] == [{"name": "tap-prod-compute-policy-requests"}]


def test_the_instance_role_has_ssm_and_cloudwatch_agent_policies():
    rendered = render_compute(make_platform())
    role = {"name": "tap-prod-compute-instance-role"}
    trust = json.loads(for_provider(rendered, "compute-instance-role")["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "ec2.amazonaws.com"}]
    attached = {for_provider(rendered, k)["policyArn"].rsplit("/", 1)[1]: for_provider(rendered, k)["roleRef"]
                for k in ("compute-role-policy-ssm", "compute-role-policy-cloudwatch")}
    assert attached == {"AmazonSSMManagedInstanceCore": role, "CloudWatchAgentServerPolicy": role}
    assert for_provider(rendered, "compute-instance-profile")["roleRef"] == role

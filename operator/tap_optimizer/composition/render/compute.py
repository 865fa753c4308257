"""The application tier: an Auto Scaling group of instances from one launch template, scaled on
CPU (target tracking) and on ALB requests per target (step scaling on an alarm).

An instance-type change updates the launch template alone, which makes a new template version.
The group names the template version explicitly, never `$Latest`: the provider starts the group's
instance refresh only when the group's own launch-template setting changes, so with `$Latest` the
running instances would keep the old type. Once AWS reports the new version, the next render points
the group at it, and that change rolls the instances over.

Two things AWS only knows once they exist come from the observed resources: the target groups'
ARNs (an Auto Scaling group has no reference field to a target group) and the api target group's
ARN suffix (the CloudWatch dimension of the requests alarm). Until then the group has no traffic
source and the requests alarm is not rendered.
"""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import (
    Platform,
    Resource,
    Resources,
    managed,
    service_role,
)
from tap_optimizer.composition.render.loadbalancer import target_group_keys, zone_subnet_refs

MANAGED_POLICIES = {
    "compute-role-policy-ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "compute-role-policy-cloudwatch": "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
}
FIRST_TEMPLATE_VERSION = 1
IMDS_V2 = {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 2}
ROLLING_REFRESH = {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 90, "skipMatching": True}}
ROOT_VOLUME_GIB = 50
GROUP_METRICS = ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupMaxSize", "GroupMinSize",
                 "GroupTotalInstances"]

MANAGEMENT_WITHOUT_LATE_INIT = ["Observe", "Create", "Update", "Delete"]

def asg_name(platform: Platform) -> str:
    """The group's AWS name; its CloudWatch metrics and the analyzer know it by this."""
    return platform.aws_name("compute-asg", f"{platform.name}-compute-asg")


def render_compute(platform: Platform) -> Resources:
    return {**_identity(platform), **_launch_template(platform), **_group(platform), **_scaling(platform)}


def _identity(platform: Platform) -> Resources:
    """The instances' role (SSM access and the CloudWatch agent) and its instance profile."""
    role = platform.ref("compute-instance-role")
    out = {
        "compute-instance-role": service_role(platform, "compute-instance-role", "ec2.amazonaws.com",
                                              "Application instances", "compute"),
        "compute-instance-profile": managed(platform, "compute-instance-profile", "iam/InstanceProfile", {
            "roleRef": role,
        }, component="compute"),
    }
    for key, arn in MANAGED_POLICIES.items():
        out[key] = managed(platform, key, "iam/RolePolicyAttachment", {"roleRef": role, "policyArn": arn},
                           component="compute", tagged=False)
    return out


def _launch_template(platform: Platform) -> Resources:
    compute = platform.params["compute"]
    root_volume = {"deviceName": "/dev/xvda", "ebs": {
        "encrypted": "true", "kmsKeyIdRef": platform.ref("kms-key"), "volumeType": "gp3",
        "volumeSize": ROOT_VOLUME_GIB, "deleteOnTermination": "true"}}
    return {"compute-launch-template": managed(platform, "compute-launch-template", "ec2/LaunchTemplate", {
        "name": platform.object_name("compute-launch-template"),
        "description": f"Application instances of TAP platform {platform.name}",
        "imageId": compute["imageId"],
        "instanceType": compute["instanceType"],
        "iamInstanceProfile": {"arnRef": platform.ref("compute-instance-profile")},
        "vpcSecurityGroupIdRefs": [platform.ref("sg-app")],
        "metadataOptions": IMDS_V2,
        "monitoring": {"enabled": True},
        "blockDeviceMappings": [root_volume],
        "updateDefaultVersion": True,
    }, component="compute")}


def _template_version(platform: Platform) -> str:
    """The template's latest version as AWS reports it (see the module docstring); a new
    template's first version until then."""
    latest = (platform.observed.get("compute-launch-template") or {}).get("latestVersion")
    return str(int(latest or FIRST_TEMPLATE_VERSION))


def _observed_target_groups(platform: Platform) -> dict[str, dict[str, Any]]:
    """The target groups AWS has created, by key, with their `arn` and `arnSuffix`."""
    found = {key: platform.observed.get(key) or {} for key in target_group_keys()}
    return {key: dict(at) for key, at in found.items() if at.get("arn") and at.get("arnSuffix")}


def _group(platform: Platform) -> Resources:
    compute = platform.params["compute"]
    spec: dict[str, Any] = {
        "minSize": compute["minSize"],
        "maxSize": compute["maxSize"],
        "launchTemplate": {"idRef": platform.ref("compute-launch-template"),
                           "version": _template_version(platform)},
        "vpcZoneIdentifierRefs": zone_subnet_refs(platform, "private"),
        "healthCheckType": "ELB",
        "healthCheckGracePeriod": compute["healthCheckGraceSeconds"],
        "instanceRefresh": ROLLING_REFRESH,
        "enabledMetrics": GROUP_METRICS,
        "metricsGranularity": "1Minute",
        "tag": [{"key": k, "value": v, "propagateAtLaunch": True}
                for k, v in sorted(platform.tags("compute").items())],
    }
    groups = _observed_target_groups(platform)
    if groups:
        spec["trafficSource"] = [{"type": "elbv2", "identifier": groups[k]["arn"]} for k in sorted(groups)]
    group = managed(platform, "compute-asg", "autoscaling/AutoscalingGroup", spec, component="compute",
                    tagged=False, external_name=asg_name(platform))
    # The scaling policies own the desired capacity once the group runs: Crossplane sets it at
    # creation only (initProvider) and, without late initialization, never copies AWS's value into
    # forProvider to reset it on the next poll.
    group["spec"]["initProvider"] = {"desiredCapacity": compute["desiredCapacity"]}
    group["spec"]["managementPolicies"] = MANAGEMENT_WITHOUT_LATE_INIT
    return {"compute-asg": group}


def _policy(platform: Platform, key: str, for_provider: dict[str, Any]) -> Resource:
    return managed(platform, key, "autoscaling/Policy", {
        "autoscalingGroupNameRef": platform.ref("compute-asg"), **for_provider,
    }, component="compute", tagged=False)


def _scaling(platform: Platform) -> Resources:
    """CPU target tracking, and step scaling on requests per target: two instances while the
    alarm's metric is up to half its threshold over it, four beyond."""
    compute = platform.params["compute"]
    half = max(1, compute["requestsPerTargetHigh"] // 2)
    out = {
        "compute-policy-cpu": _policy(platform, "compute-policy-cpu", {
            "policyType": "TargetTrackingScaling",
            "targetTrackingConfiguration": {
                "predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
                "targetValue": compute["targetCpuPercent"],
            },
        }),
        "compute-policy-requests": _policy(platform, "compute-policy-requests", {
            "policyType": "StepScaling",
            "adjustmentType": "ChangeInCapacity",
            "stepAdjustment": [
                {"metricIntervalLowerBound": "0", "metricIntervalUpperBound": str(half),
                 "scalingAdjustment": 2},
                {"metricIntervalLowerBound": str(half), "scalingAdjustment": 4},
            ],
        }),
    }
    api = _observed_target_groups(platform).get("lb-tg-api")
    if api is not None:
        out["compute-alarm-requests-high"] = _requests_alarm(platform, api["arnSuffix"])
    return out


def _requests_alarm(platform: Platform, target_group: str) -> Resource:
    """Requests per target and minute above the threshold for two minutes: the step policy acts."""
    threshold = platform.params["compute"]["requestsPerTargetHigh"]
    return managed(platform, "compute-alarm-requests-high", "cloudwatch/MetricAlarm", {
        "alarmDescription": f"TAP {platform.name}: ALB requests per target above {threshold} a minute",
        "namespace": "AWS/ApplicationELB",
        "metricName": "RequestCountPerTarget",
        "dimensions": {"TargetGroup": target_group},
        "statistic": "Sum",
        "period": 60,
        "evaluationPeriods": 2,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": threshold,
        "treatMissingData": "notBreaching",
        "alarmActionsRefs": [platform.ref("compute-policy-requests")],
    }, component="compute")

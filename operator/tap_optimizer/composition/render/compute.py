"""The application tier: an Auto Scaling group of instances from one launch template, scaled on
CPU (target tracking) and on requests per target (step scaling on an alarm).

The group runs the template's `$Latest` version, so an instance-type change updates the
template alone and the group's instance refresh rolls it out.
"""

from __future__ import annotations

from tap_optimizer.composition.render.common import Platform, Resources, assume_role_policy, managed, zones

MANAGED_POLICIES = {
    "compute-role-policy-ssm": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
    "compute-role-policy-cloudwatch": "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
}


def asg_name(platform: Platform) -> str:
    """The group's AWS name; its CloudWatch metrics and the analyzer know it by this."""
    return f"{platform.name}-compute-asg"


TARGET_GROUPS = ("lb-tg-api", "lb-tg-admin", "lb-tg-metrics")


def render_compute(platform: Platform) -> Resources:
    return {**_identity(platform), **_launch_template(platform), **_group(platform), **_scaling(platform)}


def _observed_target_groups(platform: Platform) -> dict[str, dict[str, str]]:
    """The target groups AWS has created: their ARNs are known only then (no provider reference
    exists from an Auto Scaling group to a target group)."""
    found = {key: platform.observed.get(key) or {} for key in TARGET_GROUPS}
    return {key: dict(at) for key, at in found.items() if at.get("arn") and at.get("arnSuffix")}


def _identity(platform: Platform) -> Resources:
    out = {
        "compute-instance-role": managed(platform, "compute-instance-role", "iam/Role", {
            "assumeRolePolicy": assume_role_policy("ec2.amazonaws.com"),
            "description": f"Application instances of TAP platform {platform.name}",
        }, component="compute"),
        "compute-instance-profile": managed(platform, "compute-instance-profile", "iam/InstanceProfile", {
            "roleRef": platform.ref("compute-instance-role"),
        }, component="compute"),
    }
    for key, arn in MANAGED_POLICIES.items():
        out[key] = managed(platform, key, "iam/RolePolicyAttachment", {
            "roleRef": platform.ref("compute-instance-role"), "policyArn": arn,
        }, component="compute", tagged=False)
    return out


def _launch_template(platform: Platform) -> Resources:
    compute = platform.params["compute"]
    return {"compute-launch-template": managed(platform, "compute-launch-template", "ec2/LaunchTemplate", {
        "description": f"TAP {platform.name} application instances",
        "imageId": compute["imageId"],
        "instanceType": compute["instanceType"],
        "iamInstanceProfile": {"arnRef": platform.ref("compute-instance-profile")},
        "vpcSecurityGroupIdRefs": [platform.ref("sg-app")],
        "metadataOptions": {"httpTokens": "required", "httpEndpoint": "enabled", "httpPutResponseHopLimit": 2},
        "monitoring": {"enabled": True},
        "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {
            "encrypted": "true", "volumeType": "gp3", "volumeSize": 50, "deleteOnTermination": "true",
            "kmsKeyIdRef": platform.ref("kms-key")}}],
        "updateDefaultVersion": True,
    }, component="compute")}


def _group(platform: Platform) -> Resources:
    compute = platform.params["compute"]
    out = {"compute-asg": managed(platform, "compute-asg", "autoscaling/AutoscalingGroup", {
        "minSize": compute["minSize"],
        "maxSize": compute["maxSize"],
        "desiredCapacity": compute["desiredCapacity"],
        "launchTemplate": {"idRef": platform.ref("compute-launch-template"), "version": "$Latest"},
        "vpcZoneIdentifierRefs": [platform.ref(f"subnet-private-{z}") for z in zones(platform)],
        "healthCheckType": "ELB",
        "healthCheckGracePeriod": compute["healthCheckGraceSeconds"],
        "instanceRefresh": {"strategy": "Rolling", "preferences": {"minHealthyPercentage": 90}},
        "enabledMetrics": ["GroupDesiredCapacity", "GroupInServiceInstances", "GroupTotalInstances"],
        "tag": [{"key": k, "value": v, "propagateAtLaunch": True} for k, v in sorted(platform.tags("compute").items())],
    }, component="compute", tagged=False, external_name=asg_name(platform))}
    groups = _observed_target_groups(platform)
    if groups:
        out["compute-asg"]["spec"]["forProvider"]["trafficSource"] = [
            {"type": "elbv2", "identifier": groups[key]["arn"]} for key in sorted(groups)]
    return out


def _scaling(platform: Platform) -> Resources:
    """CPU target tracking always; step scaling on requests per target once the api target
    group exists, since its CloudWatch dimension is the group's ARN suffix."""
    compute = platform.params["compute"]
    group = {"autoscalingGroupNameRef": platform.ref("compute-asg")}
    out = {
        "compute-policy-cpu": managed(platform, "compute-policy-cpu", "autoscaling/Policy", {
            **group,
            "policyType": "TargetTrackingScaling",
            "targetTrackingConfiguration": {
                "predefinedMetricSpecification": {"predefinedMetricType": "ASGAverageCPUUtilization"},
                "targetValue": compute["targetCpuPercent"],
            },
        }, component="compute", tagged=False),
        "compute-policy-requests": managed(platform, "compute-policy-requests", "autoscaling/Policy", {
            **group,
            "policyType": "StepScaling",
            "adjustmentType": "ChangeInCapacity",
            "stepAdjustment": [{"metricIntervalLowerBound": "0", "metricIntervalUpperBound": "500",
                                "scalingAdjustment": 1},
                               {"metricIntervalLowerBound": "500", "scalingAdjustment": 3}],
        }, component="compute", tagged=False),
    }
    api = _observed_target_groups(platform).get("lb-tg-api")
    if api is None:
        return out
    out["compute-alarm-requests-high"] = managed(platform, "compute-alarm-requests-high", "cloudwatch/MetricAlarm", {
        "alarmDescription": f"TAP {platform.name}: requests per target above {compute['requestsPerTargetHigh']}",
        "namespace": "AWS/ApplicationELB",
        "metricName": "RequestCountPerTarget",
        "dimensions": {"TargetGroup": api["arnSuffix"]},
        "statistic": "Sum",
        "period": 60,
        "evaluationPeriods": 2,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": compute["requestsPerTargetHigh"],
        "alarmActionsRefs": [platform.ref("compute-policy-requests")],
    }, component="compute")
    return out

"""The Crossplane stand-in starts an Auto Scaling group's instance refresh in moto as Terraform
does: when the group's launch template version changes (an instance-type change), never on
creation or on other changes; it ends Successful, or Failed with the `refresh_fails` knob."""

from __future__ import annotations

import copy

import pytest

from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.moto_aws import describe_refreshes
from tap_optimizer_local.processes import wait_until
from tests.integration.test_operator import NS, PLATFORM
from tests.support.crds import SCHEMAS

GROUP = ("autoscaling.aws.m.upbound.io", "v1beta1", "autoscalinggroups")
AWS_NAME = "tap-prod-compute-asg"
FAILURE = "Instance refresh failed: instances launched from the new launch template failed their ELB health checks."


@pytest.fixture
def stand(aws_env):
    with local_cluster(SCHEMAS, aws=aws_env.autoscaling_backend) as (cluster, crossplane):
        crossplane.refresh_seconds = 0.5
        cluster.create_platform(copy.deepcopy(PLATFORM))
        yield cluster, crossplane, aws_env.autoscaling_backend("us-east-1")


def change(cluster, compute: dict) -> None:
    cluster.custom.patch_namespaced_custom_object(
        "platform.tap.io", "v1alpha1", NS, "tapplatforms", "tap-prod", {"spec": {"parameters": {"compute": compute}}},
        _content_type="application/merge-patch+json")


def refreshes(backend) -> list[dict]:
    return describe_refreshes(backend, AWS_NAME)


def test_an_instance_type_change_starts_a_refresh_that_succeeds(stand):
    cluster, _, backend = stand
    assert refreshes(backend) == []  # creating the group starts none
    change(cluster, {"instanceType": "m5.2xlarge"})
    wait_until(lambda: refreshes(backend), 10, "an instance refresh")
    group = cluster.get(GROUP, NS, AWS_NAME)
    assert group["spec"]["forProvider"]["launchTemplate"]["version"] == "2"
    (started,) = refreshes(backend)
    assert started["Status"] == "InProgress" and started["Strategy"] == "Rolling"
    assert started["Preferences"] == {"MinHealthyPercentage": 90, "SkipMatching": True}
    assert "DesiredConfiguration" not in started  # Terraform starts it without one
    wait_until(lambda: refreshes(backend)[0]["Status"] == "Successful", 5, "the refresh to succeed")


def test_a_refresh_fails_with_the_knob_quoting_it(stand):
    cluster, crossplane, backend = stand
    crossplane.refresh_fails = FAILURE
    change(cluster, {"instanceType": "m5.2xlarge"})
    wait_until(lambda: refreshes(backend) and refreshes(backend)[0]["Status"] == "Failed", 10, "a failed refresh")
    assert refreshes(backend)[0]["StatusReason"] == FAILURE


def test_a_change_back_cancels_the_running_refresh_and_starts_another(stand):
    cluster, crossplane, backend = stand
    crossplane.refresh_seconds = 30
    before = cluster.platform(NS, "tap-prod")["spec"]["parameters"]["compute"]["instanceType"]
    change(cluster, {"instanceType": "m5.2xlarge"})
    wait_until(lambda: refreshes(backend), 10, "an instance refresh")
    change(cluster, {"instanceType": before})
    wait_until(lambda: len(refreshes(backend)) == 2, 10, "a second instance refresh")
    assert [r["Status"] for r in refreshes(backend)] == ["InProgress", "Cancelled"]  # newest first
    assert cluster.get(GROUP, NS, AWS_NAME)["spec"]["forProvider"]["launchTemplate"]["version"] == "3"


def test_a_change_that_keeps_the_launch_template_starts_no_refresh(stand):
    cluster, _, backend = stand
    change(cluster, {"maxSize": 30})
    wait_until(lambda: cluster.get(GROUP, NS, AWS_NAME)["spec"]["forProvider"]["maxSize"] == 30, 10, "maxSize")
    assert refreshes(backend) == []

"""An Auto Scaling group's instance refresh asked of AWS (aws_refresh.py): real boto3 calls to moto
in server mode, extended with StartInstanceRefresh, DescribeInstanceRefreshes and
CancelInstanceRefresh (moto_aws.py); answers parsed by botocore against the service model."""

from __future__ import annotations

import asyncio
import datetime as dt

import botocore.exceptions
import pytest

from tap_optimizer import aws_refresh
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.aws_refresh import EXTERNAL_NAME, InstanceRefreshes
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import Readiness
from tap_optimizer_local import moto_aws
from tap_optimizer_local.moto_aws import Moto
from tap_optimizer_local.processes import free_port

REGION = "us-east-1"
NAME = "tap-prod-compute-asg"
FAILURE = "Instance refresh failed: 2 instances launched from the new launch template failed their ELB health checks."
GROUP = {"apiVersion": "autoscaling.aws.m.upbound.io/v1beta1", "kind": "AutoscalingGroup",
         "metadata": {"name": "tap-prod-compute-asg", "annotations": {EXTERNAL_NAME: NAME}},
         "spec": {"forProvider": {"region": REGION, "launchTemplate": {"version": "2"}}}}


def client(moto: Moto):
    return moto.session().client("autoscaling", endpoint_url=moto.url, region_name=REGION)


def refreshes(**options) -> InstanceRefreshes:
    """No retries (botocore's max_attempts counts retries), so failures are quick."""
    return InstanceRefreshes(Aws(retry_mode="standard", **{"max_attempts": 0, **options}))


def errors() -> float:
    return METRICS._errors.labels("aws")._value.get()


def since() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def test_a_refresh_is_waited_for_until_it_succeeds(aws_env):
    moto_aws.REFRESH["seconds"] = 0.6
    changed = since()
    reader = refreshes()
    first = await reader.readiness(GROUP, "2", changed)
    assert first.state == "Waiting" and "no instance refresh to launch template version 2 has started" in first.message
    client(aws_env).start_instance_refresh(AutoScalingGroupName=NAME, Strategy="Rolling",
                                           Preferences={"MinHealthyPercentage": 90, "SkipMatching": True})
    running = await reader.readiness(GROUP, "2", changed)
    assert running.state == "Waiting"
    assert running.message.startswith("AutoscalingGroup/tap-prod-compute-asg: instance refresh ")
    assert "is InProgress, " in running.message and "% complete" in running.message
    assert "Waiting for instances to warm up" in running.message
    await asyncio.sleep(0.7)
    assert (await reader.readiness(GROUP, "2", changed)).state == "Ready"


async def test_a_failed_refresh_is_refused_quoting_aws(aws_env):
    moto_aws.REFRESH.update(seconds=0.0, fails=FAILURE)
    changed = since()
    client(aws_env).start_instance_refresh(AutoScalingGroupName=NAME)
    found = await refreshes().readiness(GROUP, "2", changed)
    assert found.state == "Refused" and found.message.endswith(f"ended Failed: {FAILURE}")


async def test_a_refresh_before_the_change_is_no_evidence_and_a_cancelled_one_is_refused(aws_env):
    moto_aws.REFRESH["seconds"] = 0.0
    client(aws_env).start_instance_refresh(AutoScalingGroupName=NAME)
    later = since() + dt.timedelta(minutes=5)
    assert (await refreshes().readiness(GROUP, "2", later)).state == "Waiting"
    moto_aws.REFRESH["seconds"] = 60.0
    changed = since()
    client(aws_env).start_instance_refresh(AutoScalingGroupName=NAME)
    client(aws_env).cancel_instance_refresh(AutoScalingGroupName=NAME)
    found = await refreshes().readiness(GROUP, "2", changed)
    assert found.state == "Refused" and "ended Cancelled" in found.message


def test_the_answers_have_the_apis_shapes_and_one_refresh_is_active_at_a_time(aws_env):
    moto_aws.REFRESH["seconds"] = 60.0
    asg = client(aws_env)
    desired = {"LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0", "Version": "3"}}
    ident = asg.start_instance_refresh(AutoScalingGroupName=NAME, Strategy="Rolling", DesiredConfiguration=desired,
                                       Preferences={"MinHealthyPercentage": 90, "SkipMatching": True})
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        asg.start_instance_refresh(AutoScalingGroupName=NAME)
    assert refused.value.response["Error"]["Code"] == "InstanceRefreshInProgress"
    (found,) = asg.describe_instance_refreshes(AutoScalingGroupName=NAME)["InstanceRefreshes"]
    assert found["InstanceRefreshId"] == ident["InstanceRefreshId"] and found["Status"] == "InProgress"
    assert isinstance(found["StartTime"], dt.datetime) and found["StartTime"].tzinfo is not None
    assert found["DesiredConfiguration"] == desired
    assert found["Preferences"] == {"MinHealthyPercentage": 90, "SkipMatching": True}
    assert set(found["ProgressDetails"]["LivePoolProgress"]) == {"PercentageComplete", "InstancesToUpdate"}
    assert asg.cancel_instance_refresh(AutoScalingGroupName=NAME)["InstanceRefreshId"] == found["InstanceRefreshId"]
    with pytest.raises(botocore.exceptions.ClientError) as none:
        asg.cancel_instance_refresh(AutoScalingGroupName=NAME)
    assert none.value.response["Error"]["Code"] == "ActiveInstanceRefreshNotFound"
    assert asg.describe_instance_refreshes(AutoScalingGroupName="other")["InstanceRefreshes"] == []


async def test_many_refreshes_are_read_through_their_pages_newest_deciding(aws_env):
    backend = aws_env.autoscaling_backend(REGION)
    changed = since()
    for _ in range(120):
        moto_aws.start_refresh(backend, NAME, 0.0, "an older failure")
    moto_aws.start_refresh(backend, NAME, 0.0, None)
    listed = refreshes().describe(REGION, NAME)
    assert len(listed) == 121 and listed[0]["Status"] == "Successful"
    assert (await refreshes().readiness(GROUP, "2", changed)).state == "Ready"


async def test_an_unreachable_endpoint_waits_and_is_counted(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    before = errors()
    found = await refreshes(timeout=1).readiness(GROUP, "2", since())
    assert found.state == "Waiting" and "Auto Scaling in us-east-1 is unreachable" in found.message
    assert errors() == before + 1


async def test_missing_credentials_wait_never_ready(aws_env, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    moto_aws.start_refresh(aws_env.autoscaling_backend(REGION), NAME, 0.0, None)  # would be Ready
    found = await refreshes().readiness(GROUP, "2", since() - dt.timedelta(minutes=1))
    assert found.state == "Waiting" and "no AWS credentials for Auto Scaling in us-east-1" in found.message
    assert found.message.endswith(aws_refresh.FIX), "it says how to fix it"
    assert "autoscaling:DescribeInstanceRefreshes" in found.message and "targets.instanceRefresh: Skip" in found.message


async def test_refused_credentials_wait_quoting_aws():
    class Denied:
        def client(self, service, region):
            return self

        def describe_instance_refreshes(self, **_):
            raise botocore.exceptions.ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "User is not authorized to perform: "
                                                              "autoscaling:DescribeInstanceRefreshes"}},
                "DescribeInstanceRefreshes")

    found = await InstanceRefreshes(Denied()).readiness(GROUP, "2", since())
    assert found.state == "Waiting"
    assert found.message.endswith("AccessDenied: User is not authorized to perform: "
                                  f"autoscaling:DescribeInstanceRefreshes; {aws_refresh.FIX}")


async def test_a_group_without_its_aws_name_or_region_waits():
    unnamed = {**GROUP, "metadata": {"name": "tap-prod-compute-asg"}}
    found = await InstanceRefreshes(Aws()).readiness(unnamed, "2", since())
    assert found.state == "Waiting" and "are not known yet" in found.message


class Untouchable:
    """An Aws whose clients must not be made: nothing is asked of AWS."""

    def client(self, service, region):
        raise AssertionError("AWS was asked")


async def test_confirm_asks_aws_only_once_the_cluster_says_ready():
    waiting = Readiness("Waiting", "TapPlatform is not yet Synced and Ready")
    groups = [("AutoscalingGroup/tap-prod-compute-asg", GROUP, "2")]
    assert await InstanceRefreshes(Untouchable()).confirm(waiting, groups, since()) is waiting
    refused = Readiness("Refused", "no")
    assert await InstanceRefreshes(Untouchable()).confirm(refused, groups, since()) is refused
    assert (await InstanceRefreshes(Untouchable()).confirm(Readiness("Ready"), [], since())).state == "Ready"


async def test_confirm_is_ready_only_after_the_groups_refresh_succeeded(aws_env):
    moto_aws.REFRESH["seconds"] = 0.3
    changed = since()
    groups = [("AutoscalingGroup/tap-prod-compute-asg", GROUP, "2")]
    reader = refreshes()
    assert (await reader.confirm(Readiness("Ready"), groups, changed)).state == "Waiting"
    client(aws_env).start_instance_refresh(AutoScalingGroupName=NAME)
    assert "is InProgress" in (await reader.confirm(Readiness("Ready"), groups, changed)).message
    await asyncio.sleep(0.4)
    assert (await reader.confirm(Readiness("Ready"), groups, changed)).state == "Ready"

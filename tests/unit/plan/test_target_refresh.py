"""The instance refresh as evidence that an instance-type change is live (targets/refresh.py):
every InstanceRefresh status, refreshes from before the change, and a refresh for another version."""

from __future__ import annotations

import copy
import datetime as dt
import pathlib

import pytest
import yaml

from tap_optimizer.platform.parameters import defaulted_parameters
from tap_optimizer.targets.refresh import CLOCK_SLACK, ENDED_BADLY, RUNNING, refreshed
from tap_optimizer.targets.tapplatform import affected, refreshing

CASES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "cases"
SINCE = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
GROUP = "AutoscalingGroup/tap-prod-compute-asg"


def refresh(status: str, started: dt.datetime | None = SINCE + dt.timedelta(seconds=20), *, reason: str = "",
            ident: str = "r-1", version: str | None = None, percent: int | None = None,
            left: int | None = None) -> dict:
    out: dict = {"InstanceRefreshId": ident, "AutoScalingGroupName": "tap-prod-compute-asg", "Status": status}
    if started is not None:
        out["StartTime"] = started
    if reason:
        out["StatusReason"] = reason
    if version is not None:
        out["DesiredConfiguration"] = {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "Version": version}}
    if percent is not None:
        out["PercentageComplete"] = percent
    if left is not None:
        out["InstancesToUpdate"] = left
    return out


def test_a_successful_refresh_started_after_the_change_is_ready():
    assert refreshed([refresh("Successful")], "2", SINCE).state == "Ready"


@pytest.mark.parametrize("status", sorted(RUNNING))
def test_a_running_refresh_waits_quoting_its_progress_and_reason(status):
    found = refreshed([refresh(status, reason="Waiting for instances to warm up.", percent=40, left=3)], 2, SINCE,
                      GROUP)
    assert found.state == "Waiting"
    assert found.message == (f"{GROUP}: instance refresh r-1 is {status}, 40% complete, 3 instances to update: "
                             "Waiting for instances to warm up.")


@pytest.mark.parametrize("status", sorted(ENDED_BADLY))
def test_a_refresh_that_ended_badly_is_refused_quoting_aws(status):
    found = refreshed([refresh(status, reason="Launching a new EC2 instance failed.")], "2", SINCE, GROUP)
    assert found.state == "Refused"
    assert found.message == f"{GROUP}: instance refresh r-1 ended {status}: Launching a new EC2 instance failed."


def test_a_refusal_without_a_reason_says_so():
    assert refreshed([refresh("Failed")], "2", SINCE).message.endswith("ended Failed: AWS gives no reason")


def test_the_statuses_are_exactly_the_ten_aws_documents():
    assert RUNNING | ENDED_BADLY | {"Successful"} == {
        "Pending", "InProgress", "Successful", "Failed", "Cancelling", "Cancelled", "RollbackInProgress",
        "RollbackFailed", "RollbackSuccessful", "Baking"}
    assert not RUNNING & ENDED_BADLY


def test_no_refresh_yet_waits():
    found = refreshed([], "2", SINCE, GROUP)
    assert found.state == "Waiting"
    assert found.message == (f"{GROUP}: no instance refresh to launch template version 2 has started since the "
                             "change at 2026-11-30T12:00:00Z")


def test_a_refresh_from_before_the_change_is_not_evidence_of_it():
    stale = refresh("Successful", SINCE - CLOCK_SLACK - dt.timedelta(seconds=1))
    assert refreshed([stale], "2", SINCE).state == "Waiting"
    stale_failure = refresh("Failed", SINCE - dt.timedelta(hours=1), reason="old")
    assert refreshed([stale_failure], "2", SINCE).state == "Waiting"  # an old failure refuses nothing


def test_a_refresh_within_the_clock_slack_counts():
    assert refreshed([refresh("Successful", SINCE - CLOCK_SLACK)], "2", SINCE).state == "Ready"


def test_an_undated_refresh_is_not_evidence():
    assert refreshed([refresh("Successful", None)], "2", SINCE).state == "Waiting"


def test_a_naive_since_is_utc():
    assert refreshed([refresh("Successful")], "2", SINCE.replace(tzinfo=None)).state == "Ready"


def test_a_refresh_for_another_version_is_not_evidence_and_is_named():
    found = refreshed([refresh("Successful", version="1", ident="r-old")], "2", SINCE)
    assert found.state == "Waiting"
    assert found.message.endswith("(r-old is for version 1)")
    assert refreshed([refresh("Successful", version="2")], 2, SINCE).state == "Ready"


def test_the_newest_fresh_refresh_decides():
    cancelled = refresh("Cancelled", SINCE + dt.timedelta(seconds=5), ident="r-1", reason="cancelled by update")
    running = refresh("InProgress", SINCE + dt.timedelta(seconds=9), ident="r-2", percent=10)
    assert refreshed([running, cancelled], "2", SINCE).state == "Waiting"  # AWS's order does not matter
    succeeded = {**running, "Status": "Successful"}
    assert refreshed([cancelled, succeeded], "2", SINCE).state == "Ready"
    failed_later = refresh("Failed", SINCE + dt.timedelta(seconds=30), ident="r-3", reason="health checks failed")
    assert refreshed([succeeded, failed_later], "2", SINCE).message.endswith("r-3 ended Failed: health checks failed")


def test_an_unknown_status_waits_never_ready():
    found = refreshed([refresh("Paused", reason="new")], "2", SINCE)
    assert found.state == "Waiting" and "'Paused'" in found.message


def composed(kind: str, api: str, body: dict) -> dict:
    return {**body, "apiVersion": api, "kind": kind}


def test_the_groups_to_confirm_are_those_an_instance_type_change_moves_to_the_new_version():
    state = yaml.safe_load((CASES / "04-asg-instance-refresh-not-awaited" / "composed-state.yaml").read_text())
    before = defaulted_parameters({})
    after = copy.deepcopy(before)
    after["compute"]["instanceType"] = "m5.2xlarge"
    watched, _ = affected("tap-prod", before, after)
    objects = {"LaunchTemplate": composed("LaunchTemplate", "ec2.aws.m.upbound.io/v1beta1", state["launchTemplate"]),
               "AutoscalingGroup": composed("AutoscalingGroup", "autoscaling.aws.m.upbound.io/v1beta1",
                                            state["autoscalingGroup"])}
    found = [(w, objects[w.ref.kind]) for w in watched]
    assert refreshing(found) == [("AutoscalingGroup/tap-prod-compute-asg", objects["AutoscalingGroup"], "2")]
    unreported = copy.deepcopy(objects["LaunchTemplate"])
    unreported["status"]["atProvider"].pop("latestVersion")
    assert refreshing([(w, unreported if w.ref.kind == "LaunchTemplate" else o) for w, o in found]) == []
    bigger = copy.deepcopy(before)
    bigger["compute"]["maxSize"] += 5
    group_only, _ = affected("tap-prod", before, bigger)
    assert [w.ref.kind for w in group_only] == ["AutoscalingGroup"]
    assert refreshing([(w, objects[w.ref.kind]) for w in group_only]) == []  # no new template version: no refresh

"""When a phase (or a restore) counts as live on a TapPlatform: the platform and the composed
resources it changes have caught up, read only from evidence about the change (current
conditions, upjet's asynchronous conditions, the values AWS reports back), never from stale ones.
The observed inputs are the cases in ../shared/cases."""

from __future__ import annotations

import copy
import datetime as dt
import pathlib

import yaml

from tap_optimizer.platform.parameters import defaulted_parameters
from tap_optimizer.targets.tapplatform import ObjectRef, Watched, affected, readiness

CASES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "cases"
WRITER = ObjectRef("rds.aws.m.upbound.io/v1beta1", "ClusterInstance", "tap-prod-database-writer")
PATCHED = dt.datetime(2026, 11, 25, 12, 0, 0, tzinfo=dt.UTC)


def case(name: str, file: str) -> dict:
    return yaml.safe_load((CASES / name / file).read_text())


def obj(generation: int, synced: str = "True", ready: str = "True", observed: int | None = None,
        message: str = "", kind: str = "ClusterInstance", api: str = "rds.aws.m.upbound.io/v1beta1") -> dict:
    seen = generation if observed is None else observed
    return {"apiVersion": api, "kind": kind, "metadata": {"generation": generation}, "status": {"conditions": [
        {"type": "Synced", "status": synced, "reason": "ReconcileError" if synced == "False" else "Ok",
         "message": message, "observedGeneration": seen},
        {"type": "Ready", "status": ready, "reason": "Available", "observedGeneration": seen}]}}


def writer(found: dict | None, expected: dict | None = None) -> list:
    return [(Watched(WRITER, expected or {}), found)]


def test_ready_when_the_platform_and_every_changed_resource_are_synced_and_ready():
    assert readiness(obj(3), 3, PATCHED, writer(obj(2)), []).state == "Ready"


def test_a_current_refusal_is_refused_quoting_the_provider():
    found = readiness(obj(3), 3, PATCHED, writer(obj(2, synced="False", message="requires replacing it")), [])
    assert found.state == "Refused" and "requires replacing it" in found.message and "writer" in found.message


def test_a_refusal_observed_at_an_older_generation_is_stale_not_a_refusal():
    found = readiness(obj(3), 3, PATCHED, writer(obj(3, synced="False", observed=2)), [])
    assert found.state == "Waiting" and "not yet Synced and Ready" in found.message


def test_nothing_is_judged_before_the_platform_reconciled_the_generation():
    found = readiness(obj(3, observed=2), 3, PATCHED, writer(obj(2, synced="False")), [])
    assert found.state == "Waiting" and "generation 2 of 3" in found.message


def test_missing_and_lingering_resources_keep_it_waiting():
    gone = ObjectRef("rds.aws.m.upbound.io/v1beta1", "ClusterInstance", "tap-prod-database-reader-1")
    found = readiness(obj(3), 3, PATCHED, writer(None), [gone])
    assert found.state == "Waiting" and "does not exist yet" in found.message and "not deleted yet" in found.message


def test_the_resources_to_watch_are_the_difference_of_two_renders():
    before = defaulted_parameters({})
    after = {**before, "database": {**before["database"], "readerCount": 1}}
    watched, removed = affected("tap-prod", before, after)
    assert [r.name for r in removed] == ["tap-prod-database-reader-1"] and watched == []


def test_a_class_change_watches_the_field_aws_must_report_back():
    before = defaulted_parameters({})
    after = copy.deepcopy(before)
    after["database"]["writerInstanceClass"] = "db.r6g.xlarge"
    watched, _ = affected("tap-prod", before, after)
    (found,) = [w for w in watched if w.ref == WRITER]
    assert found.expected == {("instanceClass",): "db.r6g.xlarge"}


# -- case 01: upjet keeps Synced/Ready True while its asynchronous update runs ----------------------

def test_an_async_update_in_progress_is_waiting_not_live():
    xr, mr = case("01-upjet-async-update-in-progress", "xr.yaml"), case("01-upjet-async-update-in-progress",
                                                                          "writer-mr.yaml")
    found = readiness(xr, 7, PATCHED, writer(mr, {("instanceClass",): "db.r6g.xlarge"}), [])
    assert found.state == "Waiting"
    assert "asynchronous update is still running (AsyncOperation Ongoing)" in found.message


def test_finished_async_conditions_still_wait_for_aws_to_report_the_new_value():
    xr, mr = case("01-upjet-async-update-in-progress", "xr.yaml"), case("01-upjet-async-update-in-progress",
                                                                          "writer-mr.yaml")
    conditions = mr["status"]["conditions"]
    conditions[2] = {"type": "AsyncOperation", "status": "True", "reason": "Finished"}
    found = readiness(xr, 7, PATCHED, writer(mr, {("instanceClass",): "db.r6g.xlarge"}), [])
    assert found.state == "Waiting"
    assert "AWS still reports atProvider.instanceClass = 'db.r6g.2xlarge', not yet 'db.r6g.xlarge'" in found.message
    mr["status"]["atProvider"]["instanceClass"] = "db.r6g.xlarge"
    assert readiness(xr, 7, PATCHED, writer(mr, {("instanceClass",): "db.r6g.xlarge"}), []).state == "Ready"


# -- case 02: an asynchronous failure shows only in LastAsyncOperation ---------------------------------

CACHE = ObjectRef("elasticache.aws.m.upbound.io/v1beta1", "ReplicationGroup", "tap-prod-cache-replication-group")


def test_an_async_failure_newer_than_the_patch_is_refused_quoting_aws():
    xr, mr = case("02-upjet-async-failure-masked", "xr.yaml"), case("02-upjet-async-failure-masked",
                                                                      "cache-mr.yaml")
    found = readiness(xr, 12, PATCHED, [(Watched(CACHE, {("nodeType",): "cache.r6g.xlarge"}), mr)], [])
    assert found.state == "Refused"
    assert "asynchronous update failed: ApplyFailure: async update failed" in found.message
    assert "Cannot modify the node type while another modification is in progress" in found.message


def test_an_async_failure_older_than_the_patch_is_stale():
    xr, mr = case("02-upjet-async-failure-masked", "xr.yaml"), case("02-upjet-async-failure-masked",
                                                                      "cache-mr.yaml")
    later = dt.datetime(2026, 11, 25, 13, 0, 0, tzinfo=dt.UTC)  # the failure is an hour older than this patch
    mr["status"]["atProvider"]["nodeType"] = "cache.r6g.xlarge"
    assert readiness(xr, 12, later, [(Watched(CACHE, {("nodeType",): "cache.r6g.xlarge"}), mr)], []).state == "Ready"


def test_a_condition_without_observed_generation_counts_only_if_stamped_after_the_change():
    mr = obj(4)
    for condition in mr["status"]["conditions"]:
        del condition["observedGeneration"]
        condition["lastTransitionTime"] = "2026-11-25T11:59:00Z"  # before the patch: left over
    found = readiness(obj(3), 3, PATCHED, writer(mr), [])
    assert found.state == "Waiting" and "not yet Synced and Ready" in found.message
    for condition in mr["status"]["conditions"]:
        condition["lastTransitionTime"] = "2026-11-25T12:00:05Z"  # a reconcile after it
    assert readiness(obj(3), 3, PATCHED, writer(mr), []).state == "Ready"


# -- case 04: an instance-type change is live when the group runs the new template version ----------

def test_an_instance_type_change_waits_for_the_group_to_move_to_the_new_template_version():
    state = case("04-asg-instance-refresh-not-awaited", "composed-state.yaml")
    before = defaulted_parameters({})
    after = copy.deepcopy(before)
    after["compute"]["instanceType"] = "m5.2xlarge"
    watched, _ = affected("tap-prod", before, after)
    assert {w.ref.kind for w in watched} == {"LaunchTemplate", "AutoscalingGroup"}
    objects = {"LaunchTemplate": {**state["launchTemplate"], "apiVersion": "ec2.aws.m.upbound.io/v1beta1",
                                  "kind": "LaunchTemplate"},
               "AutoscalingGroup": {**state["autoscalingGroup"], "apiVersion": "autoscaling.aws.m.upbound.io/v1beta1",
                                    "kind": "AutoscalingGroup"}}
    found = readiness(state["xr"], 7, PATCHED, [(w, objects[w.ref.kind]) for w in watched], [])
    assert found.state == "Waiting"
    assert "launch template version 1 (AWS reports none), not yet the latest, 2" in found.message
    group = objects["AutoscalingGroup"]
    group["spec"]["forProvider"]["launchTemplate"]["version"] = "2"
    group["metadata"]["generation"] = 6  # the function moved it; the provider has not reconciled yet
    assert readiness(state["xr"], 7, PATCHED, [(w, objects[w.ref.kind]) for w in watched], []).state == "Waiting"
    for condition in group["status"]["conditions"]:
        condition["observedGeneration"] = 6
    group["status"]["atProvider"] = {"launchTemplate": {"version": "2"}}
    assert readiness(state["xr"], 7, PATCHED, [(w, objects[w.ref.kind]) for w in watched], []).state == "Ready"


def test_a_policy_document_aws_stores_normalized_is_not_compared_as_text():
    mr = obj(2)
    mr["status"]["atProvider"] = {"policy": '{"Statement":[],"Version":"2012-10-17"}', "instanceClass": "db.r6g.large"}
    given = {("policy",): '{"Version": "2012-10-17", "Statement": []}', ("instanceClass",): "db.r6g.large"}
    assert readiness(obj(3), 3, PATCHED, writer(mr, given), []).state == "Ready"

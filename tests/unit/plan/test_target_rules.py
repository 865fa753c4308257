"""Phases AWS would not apply the way the plan needs are refused before the plan takes its target:
a class or node-type change AWS would defer to the maintenance window (applyImmediately false),
and ElastiCache modifications AWS makes one at a time put in one phase. Nothing is patched."""

from __future__ import annotations

import pathlib

import yaml

from tap_optimizer.platform.parameters import defaulted_parameters
from tap_optimizer.targets.tapplatform import untouchable
from tests.support.plans import Run, World, three_phase_spec

CASES = pathlib.Path(__file__).resolve().parents[3].parent / "shared" / "cases"


def test_a_class_change_with_apply_immediately_false_is_refused_naming_the_window():
    case = CASES / "05-apply-immediately-false"
    plan = yaml.safe_load((case / "plan.yaml").read_text())["spec"]
    platform = yaml.safe_load((case / "tapplatform.yaml").read_text())
    world = World(parameters=defaulted_parameters(platform["spec"]["parameters"]))
    run = Run(plan, world)
    run.until("Failed")
    assert run.status["reason"] == "InvalidChange"
    message = run.status["message"]
    assert "phase database cannot apply" in message
    assert ("Aurora DB instance database-writer: AWS would change instanceClass only at the next maintenance "
            "window (sun:04:00-sun:05:00)") in message
    assert "ElastiCache replication group cache-replication-group: AWS would change nodeType" in message
    assert "spec.parameters.applyImmediately is false (set it true in an earlier phase)" in message
    assert "nothing was changed" in message
    assert world.patches == [] and world.lock is None


def test_turning_apply_immediately_on_in_an_earlier_phase_is_allowed_and_in_the_same_phase_refused():
    """A phase that turns applyImmediately on with the class would be rolled back by one patch
    putting both back, a restore AWS defers to the maintenance window: it must come earlier."""
    case = CASES / "05-apply-immediately-false"
    platform = yaml.safe_load((case / "tapplatform.yaml").read_text())
    turn_on = {"op": "replace", "path": "/spec/parameters/applyImmediately", "value": True}
    same = yaml.safe_load((case / "plan.yaml").read_text())["spec"]
    same["phases"][0]["changes"].insert(0, turn_on)
    world = World(parameters=defaulted_parameters(platform["spec"]["parameters"]))
    refused = Run(same, world)
    refused.until("Failed")
    assert "set spec.parameters.applyImmediately true in an earlier phase" in refused.status["message"]
    assert world.patches == []
    earlier = yaml.safe_load((case / "plan.yaml").read_text())["spec"]
    earlier["phases"].insert(0, {"name": "apply-immediately", "changes": [turn_on]})
    world = World(parameters=defaulted_parameters(platform["spec"]["parameters"]))
    run = Run(earlier, world)
    run.until("Succeeded")
    assert world.parameters["applyImmediately"] is True


def test_node_type_and_shard_or_replica_count_in_one_phase_are_refused():
    for field, value in (("shards", 2), ("replicasPerShard", 1)):
        body = three_phase_spec()
        body["phases"][1]["changes"].append({"op": "replace", "path": f"/spec/parameters/cache/{field}",
                                             "value": value})
        world = World()
        run = Run(body, world)
        run.until("Failed")
        assert run.status["reason"] == "InvalidChange"
        assert "phase compute cannot apply: ElastiCache replication group cache-replication-group: nodeType and " \
               f"{'numNodeGroups' if field == 'shards' else 'replicasPerNodeGroup'} change together" \
               in run.status["message"]
        assert "change each in its own phase" in run.status["message"]
        assert world.patches == []


def test_shard_and_replica_counts_may_change_together():
    body = three_phase_spec()
    body["phases"].insert(2, {"name": "cache-topology", "changes": [
        {"op": "replace", "path": "/spec/parameters/cache/shards", "value": 2},
        {"op": "replace", "path": "/spec/parameters/cache/replicasPerShard", "value": 1}]})
    world = World()
    Run(body, world).until("Succeeded")
    assert (world.parameters["cache"]["shards"], world.parameters["cache"]["replicasPerShard"]) == (2, 1)


def test_the_same_changes_in_separate_phases_apply():
    body = three_phase_spec()
    body["phases"].insert(2, {"name": "cache-shards", "changes": [
        {"op": "replace", "path": "/spec/parameters/cache/shards", "value": 2}]})
    world = World()
    Run(body, world).until("Succeeded")
    assert world.parameters["cache"]["shards"] == 2 and world.parameters["cache"]["nodeType"] == "cache.r6g.xlarge"


def test_a_target_the_composition_cannot_render_fails_the_plan_naming_the_field():
    broken = defaulted_parameters({"network": {"vpcCidr": "10.0.0.1/16"}})  # the CRD's pattern accepts it
    world = World(parameters=broken)
    run = Run(three_phase_spec(), world)
    run.until("Failed")
    assert run.status["reason"] == "InvalidChange"
    assert "spec.parameters.network.vpcCidr: '10.0.0.1/16' is not an IPv4 network address" in run.status["message"]
    assert world.patches == []


def test_a_phase_that_repairs_a_target_that_does_not_render_needs_approval():
    broken = defaulted_parameters({"network": {"vpcCidr": "10.0.0.1/16"}})
    body = three_phase_spec(approveIrreversible=False, phases=[{"name": "repair", "changes": [
        {"op": "replace", "path": "/spec/parameters/network/vpcCidr", "value": "10.0.0.0/16"}]}])
    run = Run(body, World(parameters=broken))
    run.until("AwaitingApproval")
    assert "what the change does cannot be known: the parameters do not render" in run.status["message"]


def test_a_paused_target_blocks_the_plan_until_it_is_reconciled_again():
    reason = untouchable({"metadata": {"annotations": {"crossplane.io/paused": "true"}}})
    assert reason == 'is paused (crossplane.io/paused: "true"): Crossplane does not reconcile it'
    assert untouchable({"metadata": {"annotations": {"crossplane.io/paused": "false"}}}) == ""
    world = World(untouchable=reason)
    run = Run(three_phase_spec(), world)
    run.until("Blocked")
    assert run.status["reason"] == "TargetUntouchable" and "crossplane.io/paused" in run.status["message"]
    assert world.patches == [] and world.lock is None
    world.untouchable = ""
    run.until("Succeeded")

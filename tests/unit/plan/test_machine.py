"""The plan state machine, step by step, against a pure stand-in for the target."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from tap_optimizer.plan.model import Baseline, Readiness
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.plans import FAIL, NO_DATA, PASS, Run, World, three_phase_spec

ORIGINAL = defaulted_parameters({})


def planned() -> dict:
    """The parameters once every change of the three-phase plan is in."""
    out = ORIGINAL
    for phase in three_phase_spec()["phases"]:
        for change in phase["changes"]:
            out = pointer.put(out, change["path"], change.get("value", pointer.ABSENT))
    return out


def phase_states(run: Run) -> list[str]:
    return [p["state"] for p in run.status["phases"]]


def test_a_three_phase_plan_succeeds_with_exactly_the_planned_parameters():
    run = Run(three_phase_spec(), World())
    run.until("Succeeded")
    assert run.world.parameters == planned()
    assert phase_states(run) == ["Succeeded"] * 3
    assert len(run.world.patches) == 3 and run.world.lock is None
    assert run.status["progress"] == "3/3" and run.status["projectedMonthlySavings"] == 4241.2
    assert run.status["baseline"] == {"error-rate": {"{}": 0.001}}
    reasons = [e.reason for e in run.events]
    assert reasons.count("PhaseSucceeded") == 3 and reasons[-1] == "AllPhasesSucceeded"


def test_each_phase_records_previous_values_before_patching():
    run = Run(three_phase_spec(), World())
    run.settle()
    changes = run.status["phases"][0]["changes"]
    assert changes == [
        {"path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole",
         "before": {"hashKey": "role", "rangeKey": "user_id", "projection": "ALL"}},
        {"path": "/spec/parameters/tables/audit_logs/streamEnabled", "before": True, "after": False},
    ]


def test_a_phase_observes_its_whole_window_before_passing():
    run = Run(three_phase_spec(), World())
    run.settle()
    assert run.status["state"] == "Observing" and phase_states(run)[0] == "Observing"
    run.tick(29)
    assert phase_states(run)[0] == "Observing"
    run.tick(1)
    assert phase_states(run)[0] == "Succeeded"


def after_phases(count: int) -> dict:
    out = ORIGINAL
    for phase in three_phase_spec()["phases"][:count]:
        for change in phase["changes"]:
            out = pointer.put(out, change["path"], change.get("value", pointer.ABSENT))
    return out


def test_a_failed_gate_rolls_back_the_failing_phase_and_keeps_the_one_that_passed():
    """Phase 1 dropped a GSI and passed its window: a compute regression must not re-create it."""
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.tick(30)  # phase 1 passes, phase 2 goes live
    assert phase_states(run)[:2] == ["Succeeded", "Observing"]
    world.gates = FAIL
    run.until("RolledBack")
    assert world.parameters == after_phases(1)
    assert phase_states(run) == ["Succeeded", "RolledBack", "Pending"]
    assert run.status["reason"] == "GateFailed" and "error-rate 0.02 > 0.005" in run.status["message"]
    assert "phases dynamodb stay applied" in run.status["message"] and run.status["rollbackScope"] == "Phase"
    assert world.lock is None and len(world.patches) == 3


def test_rollback_scope_plan_restores_every_applied_phase_byte_identical_newest_first():
    world = World()
    run = Run(three_phase_spec(rollbackScope="Plan"), world)
    run.until("Observing")
    run.tick(30)
    world.gates = FAIL
    run.until("RolledBack")
    assert world.parameters == ORIGINAL
    assert phase_states(run) == ["RolledBack", "RolledBack", "Pending"]
    rollbacks = world.patches[2:]
    assert next(op["path"] for op in rollbacks[0] if op["op"] != "test") == "/spec/parameters/compute/instanceType"
    assert any("re-created what it removed" in e.message for e in run.events)


def test_gate_history_keeps_value_bound_query_and_time():
    run = Run(three_phase_spec(), World(gates=FAIL))
    run.until("RolledBack")
    (check,) = run.status["phases"][0]["gates"]
    assert check["verdict"] == "Fail" and check["time"]
    assert check["metrics"] == [{"name": "error-rate", "verdict": "Fail", "value": 0.02, "bound": 0.005,
                                 "message": "error-rate 0.02 > 0.005"}]
    assert run.status["gateQueries"] == {"error-rate": "q"}, "each query is kept once, not in every check"
    assert run.status["phases"][0]["checks"] == [[check["time"], "Fail", "error-rate", 0.02, 0.005]]


def walk(crash_at_action: int | None, fail_in_phase: int | None) -> tuple[Run, int]:
    """Run the plan to its end; the operator dies right after its n-th action, before writing status."""
    world = World()
    run = Run(three_phase_spec(rollbackScope="Plan"), world)
    actions = 0
    for _ in range(400):
        if run.status.get("state") in ("Succeeded", "RolledBack", "Failed"):
            break
        if fail_in_phase is not None and run.status.get("currentPhase") == fail_in_phase:
            world.gates = FAIL
        before = (len(world.patches), world.lock)
        again = run.step(crash_after_action=actions == crash_at_action)
        actions += (len(world.patches), world.lock) != before
        if not again:
            run.now += dt.timedelta(seconds=5)
    return run, actions


@pytest.mark.parametrize("fail_in_phase", [None, 1], ids=["run to Succeeded", "roll back from phase 2"])
def test_a_crash_after_any_action_ends_like_an_uninterrupted_run(fail_in_phase):
    """Lock, every patch, every rollback patch and the unlock are each followed by a crash in turn."""
    clean, actions = walk(None, fail_in_phase)
    assert actions == (5 if fail_in_phase is None else 6)
    for crash_at in range(actions):
        crashed, _ = walk(crash_at, fail_in_phase)
        assert crashed.status["state"] == clean.status["state"], crash_at
        assert crashed.world.parameters == clean.world.parameters
        assert crashed.world.patches == clean.world.patches  # no patch applied twice
        assert crashed.world.lock is None


def test_a_provider_refusal_rolls_the_phase_back_quoting_the_reason():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    refused = Readiness("Refused", "Instance/tap-prod-database-writer is not Synced: ReconcileError: "
                                   "refuse to update the external resource because it requires replacing it")
    world.after_patches = [refused, Readiness("Ready")]  # the next phase is refused; the restored values are taken
    run.tick(30)
    assert run.status["state"] == "RolledBack" and run.status["reason"] == "ApplyRefused"
    assert "requires replacing it" in run.status["message"]
    assert world.parameters == after_phases(1)


def test_a_phase_that_never_gets_ready_times_out_and_rolls_back():
    world = World(readiness=Readiness("Waiting", "Instance/x is not yet Synced and Ready"))
    run = Run(three_phase_spec(applyTimeout="60s"), world)
    run.settle()
    assert run.status["state"] == "Progressing" and run.status["reason"] == "Patched"
    world.after_patches = [Readiness("Ready")]
    run.until("RolledBack", seconds=10)
    assert run.status["reason"] == "ApplyTimeout" and "not yet Synced and Ready" in run.status["message"]
    assert world.parameters == ORIGINAL


def test_a_second_plan_on_the_same_target_is_blocked_naming_the_holder_then_runs():
    world = World()
    retention = [{"name": "backups", "changes": [
        {"op": "replace", "path": "/spec/parameters/database/backupRetentionDays", "value": 7}]}]
    first, second = Run(three_phase_spec(), world), Run(three_phase_spec(phases=retention), world, name="plan-b")
    first.settle()
    second.settle()
    assert second.status["state"] == "Blocked"
    assert "being changed by plan tap/plan-a" in second.status["message"]
    first.until("Succeeded")
    second.until("Observing", seconds=30)
    assert world.lock == "tap/plan-b"
    second.until("Succeeded")
    assert pointer.get(world.parameters, "/spec/parameters/database/backupRetentionDays") == 7


def test_suspend_pauses_at_the_next_safe_point_and_resume_continues():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.spec_body["suspend"] = True
    run.settle()  # the edit wakes the operator
    assert run.status["state"] == "Observing", "the phase being observed keeps being checked"
    run.tick(30)
    assert run.status["state"] == "Paused" and run.status["reason"] == "Suspended"
    assert phase_states(run)[:2] == ["Succeeded", "Pending"], "held at the next safe point"
    patches = len(world.patches)
    run.tick(600)
    assert len(world.patches) == patches and run.status["state"] == "Paused"
    run.spec_body["suspend"] = False
    run.until("Succeeded")
    assert world.parameters == planned()


def test_approval_holds_a_phase_until_annotated():
    body = three_phase_spec()
    body["phases"][1]["requiresApproval"] = True
    run = Run(body, World())
    run.until("AwaitingApproval")
    assert phase_states(run)[:2] == ["Succeeded", "AwaitingApproval"]
    assert "optimization.tap.io/approve=compute" in run.status["message"]
    run.tick(3600)
    assert run.status["state"] == "AwaitingApproval" and len(run.world.patches) == 1
    run.annotations["optimization.tap.io/approve"] = "compute"
    run.until("Succeeded")
    assert "approvedAt" in run.status["phases"][1]


def test_one_way_doors_need_approval_unless_the_plan_says_otherwise():
    run = Run(three_phase_spec(approveIrreversible=False), World())
    run.settle()
    assert run.status["state"] == "AwaitingApproval" and run.world.patches == []
    assert run.status["phases"][0]["oneWayDoors"] == [
        "disables the stream of table-audit_logs: re-enabling gives a new stream ARN that consumers must re-point to",
        "drops GSI table-users/ByRole: re-adding it rebuilds the index from the whole table",
    ]


def test_abort_rolls_everything_back():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.tick(30)
    run.annotations["optimization.tap.io/abort"] = "true"
    run.until("RolledBack")
    assert run.status["reason"] == "Aborted" and world.parameters == ORIGINAL


def test_dry_run_records_the_patches_and_touches_nothing():
    world = World()
    run = Run(three_phase_spec(dryRun=True), world)
    run.settle()
    assert run.status["state"] == "Succeeded" and run.status["reason"] == "DryRun"
    assert world.patches == [] and world.lock is None and world.parameters == ORIGINAL
    first = run.status["phases"][0]["wouldPatch"]
    assert first[0] == {"op": "test", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole",
                        "value": {"hashKey": "role", "rangeKey": "user_id", "projection": "ALL"}}
    assert {"op": "remove", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole"} in first


def test_rollback_leaves_a_path_someone_else_changed_and_reports_it():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.tick(30)
    world.parameters = pointer.put(world.parameters, "/spec/parameters/compute/instanceType", "c6i.2xlarge")
    world.gates = FAIL  # a failing gate while drifted still rolls back
    run.until("Failed", "RolledBack")
    assert run.status["state"] == "Failed"
    assert pointer.get(world.parameters, "/spec/parameters/compute/instanceType") == "c6i.2xlarge"
    assert pointer.get(world.parameters, "/spec/parameters/compute/desiredCapacity") == 15
    conflict = next(c for c in run.status["conditions"] if c["type"] == "Conflict")
    assert "/spec/parameters/compute/instanceType" in conflict["message"]


def test_inconclusive_gates_pause_after_the_limit_when_asked_and_a_pass_continues():
    body = three_phase_spec()
    body["gates"]["onInconclusive"] = "Pause"
    world = World(gates=NO_DATA)
    run = Run(body, world)
    run.settle()
    run.tick(10)
    run.tick(10)
    assert run.status["state"] == "Observing"
    run.tick(10)
    assert run.status["state"] == "Paused" and run.status["reason"] == "GatesInconclusive"
    assert "inconclusive gate check 3 of 3 in a row (NoData)" in run.status["message"]
    world.gates = PASS
    run.until("Succeeded")


def test_inconclusive_gates_roll_back_by_default():
    run = Run(three_phase_spec(), World(gates=NO_DATA))
    run.until("RolledBack")
    assert run.status["reason"] == "GatesInconclusive"


def test_an_invalid_change_in_any_phase_is_refused_before_any_patch():
    body = three_phase_spec()
    body["phases"][1]["changes"][2]["value"] = 9  # minSize 9 > desiredCapacity 8
    world = World()
    run = Run(body, world)
    run.until("Failed")
    assert run.status["reason"] == "InvalidChange"
    assert run.status["message"] == ("phase compute cannot apply: spec.parameters.compute: compute requires "
                                     "minSize <= desiredCapacity <= maxSize; nothing was changed")
    assert world.parameters == after_phases(0) and world.patches == [] and world.lock is None


def test_a_phase_made_invalid_by_a_target_edited_after_the_start_stops_there():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    world.parameters["applyImmediately"] = False  # someone defers changes: the cache phase would watch nothing
    run.until("Failed")
    assert run.status["reason"] == "InvalidChange"
    assert "phase compute cannot apply" in run.status["message"]
    assert "AWS would change nodeType only at the next maintenance window" in run.status["message"]
    assert "phases dynamodb stay applied" in run.status["message"]
    assert len(world.patches) == 1 and world.lock is None


def test_editing_phases_after_the_start_pauses_instead_of_guessing():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    original = copy.deepcopy(run.spec_body)
    run.spec_body["phases"][2]["changes"][1]["value"] = 0
    run.tick(10)
    assert run.status["state"] == "Paused" and run.status["reason"] == "SpecChanged"
    run.spec_body = original
    run.until("Succeeded")


def test_a_relative_gate_without_a_baseline_waits_and_changes_nothing():
    body = three_phase_spec()
    body["gates"]["metrics"].append({"name": "p99", "query": "p", "maxIncreaseOverBaseline": 0.2})
    world = World(baseline=Baseline({"error-rate": {"{}": 0.001}}, {"p99": "no data"}))
    run = Run(body, world)
    run.settle()
    run.tick(10)
    run.tick(10)
    assert run.status["reason"] == "BaselineUnavailable" and world.patches == []
    assert "no baseline yet (attempt 3): p99: no data" in run.status["message"]
    assert any(e.type == "Warning" and e.reason == "BaselineUnavailable" for e in run.events)
    world.baseline = Baseline({"error-rate": {"{}": 0.001}, "p99": {"{}": 0.05}})
    run.until("Succeeded")
    assert run.status["baseline"]["p99"] == {"{}": 0.05} and "baselineAttempts" not in run.status


def _failing_plan(world: World) -> Run:
    """A plan whose first phase's gate fails, so it rolls back."""
    run = Run(three_phase_spec(applyTimeout="60s"), world)
    run.until("Observing")
    world.gates = FAIL
    return run


def test_a_rollback_ends_only_once_the_restored_resources_are_ready():
    world = World()
    run = _failing_plan(world)
    world.after_patches = [Readiness("Waiting", "Instance/x is not yet Synced and Ready")]
    run.tick(30)
    assert world.parameters == ORIGINAL
    assert run.status["state"] == "RollingBack" and "not yet Synced" in run.status["phases"][0]["waitingFor"]
    assert run.status["phases"][0]["state"] == "Restoring"
    assert world.lock == run.plan.holder, "the target stays locked until the restore is live"
    world.readiness = Readiness("Ready")
    run.tick(10)
    assert run.status["state"] == "RolledBack" and world.lock is None


@pytest.mark.parametrize(("readiness", "why"), [
    (Readiness("Refused", "Instance/x is not Synced: refuse to update"), "refused"),
    (Readiness("Waiting", "Instance/x is not yet Synced and Ready"), "not Synced and Ready 60 s after"),
])
def test_a_restore_the_platform_does_not_take_fails_the_plan_saying_why(readiness, why):
    world = World()
    run = _failing_plan(world)
    world.after_patches = [readiness]
    run.until("Failed", seconds=10)
    assert world.parameters == ORIGINAL and run.status["reason"] == "RestoreNotReady"
    assert why in run.status["message"] and world.lock is None


def test_a_plan_on_a_platform_being_adopted_is_blocked_until_full_management():
    world = World(parameters=defaulted_parameters({"managementMode": "ObserveOnly"}))
    run = Run(three_phase_spec(), world)
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Blocked", "ObserveOnly")
    message = run.status["message"]
    assert "managementMode: ObserveOnly" in message and "set managementMode to Full" in message
    assert world.lock is None and world.patches == []
    world.parameters["managementMode"] = "Full"
    run.until("Observing", seconds=30)
    assert world.lock == "tap/plan-a"


def test_a_platform_switched_to_observe_only_under_way_holds_the_plan_until_full_management():
    world = World()
    run = Run(three_phase_spec(), world)
    run.settle()
    assert phase_states(run)[0] == "Observing"
    world.parameters["managementMode"] = "ObserveOnly"
    run.tick(60)
    assert (run.status["state"], run.status["reason"]) == ("Paused", "ObserveOnly")
    patches = len(world.patches)
    run.tick(600)
    assert run.status["state"] == "Paused" and len(world.patches) == patches
    world.parameters["managementMode"] = "Full"
    run.until("Succeeded", seconds=30)
    assert world.parameters == {**planned(), "managementMode": "Full"}

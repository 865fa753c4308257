"""Every plan ends safely: edits, deletes, aborts, drift and lost locks never strand a change. The
observed inputs of issue 13 (and of the review of issue 12) through the pure state machine."""

from __future__ import annotations

import copy
import pathlib

import pytest
import yaml

from tap_optimizer.metrics import applied_savings
from tap_optimizer.plan import evidence
from tap_optimizer.plan.model import ABORT_ANNOTATION, APPROVE_ANNOTATION, Preflight, Readiness
from tap_optimizer.plan.spec import spec_errors
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.plans import FAIL, Run, World, three_phase_spec

CASES = pathlib.Path(__file__).parents[3].parent / "shared" / "cases"
ORIGINAL = defaulted_parameters({})
WAITING = Readiness("Waiting", "Instance/x is not yet Synced and Ready")


def rolling_back(world: World, **overrides) -> Run:
    """A three-phase plan whose second phase failed its gate, its restore not yet live."""
    run = Run(three_phase_spec(rollbackScope="Plan", **overrides), world)
    run.until("Observing")
    run.tick(30)
    world.gates = FAIL
    world.after_patches = [WAITING]
    run.tick(10)
    assert run.status["state"] == "RollingBack", run.status["message"]
    return run


def test_case_13_an_edit_the_operator_refuses_does_not_stop_a_rollback_and_reverting_it_is_harmless():
    world = World()
    run = rolling_back(world, rollbackOnDelete=True)
    edit = yaml.safe_load((CASES / "13-abort-and-delete-with-invalid-spec" / "edit.yaml").read_text())
    original = copy.deepcopy(run.spec_body)
    run.spec_body["gates"]["interval"] = edit["spec"]["gates"]["interval"]
    assert spec_errors(run.spec_body), "the operator refuses this spec"
    run.settle()
    assert run.status["state"] == "RollingBack"
    run.annotations[ABORT_ANNOTATION] = "true"
    world.readiness = Readiness("Ready")
    run.until("RolledBack", "Failed")
    assert (run.status["state"], world.parameters, world.lock) == ("RolledBack", ORIGINAL, None)
    run.spec_body = original
    run.settle()
    assert run.status["state"] == "RolledBack"


def observing_with_a_spec_that_cannot_run(world: World) -> Run:
    """The first phase observed, then an edit the API server takes and the operator refuses."""
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.spec_body["gates"]["interval"] = "1h"
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Paused", "InvalidSpec")
    return run


def test_abort_works_with_a_spec_that_cannot_run_from_observing():
    world = World()
    run = observing_with_a_spec_that_cannot_run(world)
    run.annotations[ABORT_ANNOTATION] = "true"
    run.until("RolledBack")
    assert world.parameters == ORIGINAL and world.lock is None


def test_a_live_phase_whose_spec_cannot_run_is_rolled_back_after_the_recorded_limit():
    """Review input: interval 15m -> 5m on a 48 h window (576 checks) is refused by the operator only."""
    world = World()
    run = observing_with_a_spec_that_cannot_run(world)
    gates = next(c for c in run.status["conditions"] if c["type"] == "GatesConclusive")
    assert (gates["status"], gates["reason"]) == ("False", "NotChecked")
    run.tick(30)
    assert (run.status["state"], run.status["reason"]) == ("RolledBack", "GatesInconclusive")
    assert world.parameters == ORIGINAL


def test_editing_the_phases_mid_observation_keeps_checking_the_live_phase_and_a_fail_rolls_it_back():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.spec_body["phases"][2]["changes"][0]["value"] = "db.r6g.2xlarge"
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Paused", "SpecChanged")
    world.gates = FAIL
    run.tick(10)
    assert run.status["state"] == "RolledBack" and world.parameters == ORIGINAL


def test_dry_run_switched_on_mid_flight_keeps_gating_and_holds_before_the_next_phase():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.spec_body["dryRun"] = True
    run.settle()
    run.tick(30)
    assert (run.status["state"], run.status["reason"]) == ("Paused", "Suspended")
    assert "dryRun was set after the plan started" in run.status["message"] and len(world.patches) == 1
    run.spec_body["dryRun"] = False
    run.settle()
    run.until("Observing")
    world.gates = FAIL
    run.until("RolledBack")


def plan_at(when: str, world: World) -> Run:
    """A plan observing its first phase, or rolling back its second."""
    run = rolling_back(world) if when == "RollingBack" else Run(three_phase_spec(), world)
    run.until(when)
    return run


@pytest.mark.parametrize("when", ["Observing", "RollingBack"])
def test_a_deleted_target_ends_the_plan_failed_naming_it(when):
    world = World()
    run = plan_at(when, world)
    world.exists = False
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Failed", "TargetDeleted")
    assert "TapPlatform tap-prod was deleted" in run.status["message"]


@pytest.mark.parametrize("when", ["Observing", "RollingBack"])
def test_a_removed_lock_annotation_is_taken_again_before_any_write(when):
    world = World()
    run = plan_at(when, world)
    world.lock = None
    world.readiness = Readiness("Ready")
    run.step()
    assert world.lock == run.plan.holder and any(e.reason == "LockRetaken" for e in run.events)
    run.until("Succeeded", "RolledBack")
    assert world.lock is None and run.status["state"] == ("RolledBack" if when == "RollingBack" else "Succeeded")


def test_a_lock_another_plan_took_stops_this_one_naming_the_holder_and_touching_nothing():
    world = World()
    run = rolling_back(world)
    world.lock, patches = "tap/other", len(world.patches)
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Failed", "LockLost")
    assert "locked by tap/other" in run.status["message"] and len(world.patches) == patches
    assert world.lock == "tap/other"


def test_case_06_a_value_set_back_by_someone_else_pauses_with_drift_and_never_succeeds():
    spec = yaml.safe_load((CASES / "06-argocd-selfheal-revert-unnoticed" / "plan.yaml").read_text())["spec"]
    world = World()
    run = Run(spec, world)
    run.until("Observing")
    run.tick(10)
    world.parameters = pointer.put(world.parameters, "/spec/parameters/compute/instanceType", "m5.4xlarge")
    run.tick(60)
    assert (run.status["state"], run.status["reason"]) == ("Paused", "Drift")
    drift = next(c for c in run.status["conditions"] if c["type"] == "Drift")
    assert drift["message"] == ("values the plan applied were changed by someone else: "
                                "/spec/parameters/compute/instanceType: planned 'm5.2xlarge', found 'm5.4xlarge'")
    plan = {"spec": spec, "status": run.status}
    assert applied_savings(plan) == 0
    world.parameters = pointer.put(world.parameters, "/spec/parameters/compute/instanceType", "m5.2xlarge")
    run.tick(10)
    assert run.status["state"] in ("Progressing", "Observing")
    run.until("Succeeded")
    assert run.status["phases"][0]["evidence"]["conclusiveSeconds"] >= 30, "a whole window after the drift"


def test_a_gsi_added_without_projection_is_not_taken_for_someone_elses_change():
    phases = [{"name": "index", "changes": [
        {"op": "add", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByEmail",
         "value": {"hashKey": "email"}}]}]
    world = World()
    run = Run(three_phase_spec(phases=phases), world)
    run.until("Observing")
    assert run.status["phases"][0]["changes"][0]["after"]["projection"] == "ALL", "recorded as the server stores it"
    run.annotations[ABORT_ANNOTATION] = "true"
    run.until("RolledBack", "Failed")
    assert run.status["state"] == "RolledBack", run.status["message"]
    assert world.parameters == ORIGINAL


@pytest.mark.parametrize(("change", "door"), [
    pytest.param({"op": "replace", "path": "/spec/parameters/tables",
                  "value": {k: v for k, v in ORIGINAL["tables"].items() if k != "audit_logs"}},
                 "deletes DynamoDB table table-audit_logs", id="a whole-map replace that drops a table"),
    pytest.param({"op": "replace", "path": "/spec/parameters/tables/users/pointInTimeRecovery", "value": False},
                 "switches point-in-time recovery of table-users off", id="point-in-time recovery off"),
    pytest.param({"op": "replace", "path": "/spec/parameters/database/backupRetentionDays", "value": 7},
                 "shortens the backup retention of database-cluster from 30 to 7 days", id="backups shortened"),
    pytest.param({"op": "replace", "path": "/spec/parameters/tables/users/streamViewType", "value": "KEYS_ONLY"},
                 "changes the stream view type of table-users", id="case 11: stream view type"),
    pytest.param({"op": "replace", "path": "/spec/parameters/database/secondaryRegions", "value": []},
                 "deletes Aurora cluster secondary-us-west-2-cluster", id="a secondary region"),
])
def test_data_loss_is_a_one_way_door_found_from_its_effects(change, door):
    world = World()
    world.parameters = defaulted_parameters({"database": {"secondaryRegions": [{"region": "us-west-2",
                                                                               "vpcCidr": "10.1.0.0/16"}]}})
    run = Run(three_phase_spec(approveIrreversible=False, phases=[{"name": "p", "changes": [change]}]), world)
    run.settle()
    assert run.status["state"] == "AwaitingApproval" and world.patches == []
    assert any(door in sentence for sentence in run.status["phases"][0]["oneWayDoors"]), \
        run.status["phases"][0]["oneWayDoors"]


def test_huge_savings_are_refused_at_the_door_and_sums_stay_finite():
    spec = three_phase_spec()
    spec["phases"][1]["changes"][0]["projectedMonthlySavings"] = 1e308
    spec["phases"][1]["changes"][1]["projectedMonthlySavings"] = 1e308
    assert "spec.phases[1].changes[0].projectedMonthlySavings" in "; ".join(map(str, spec_errors(spec)))
    assert evidence.money(1e308 + 1e308) == evidence.MAX_MONEY and evidence.money(float("nan")) == 0.0


def test_a_phase_approved_days_later_asks_the_gates_again_and_waits_while_they_do_not_answer():
    """Review input: approval after 5 days with Prometheus down must not patch."""
    world = World()
    run = Run(three_phase_spec(approveIrreversible=False), world)
    run.settle()
    assert run.status["state"] == "AwaitingApproval"
    run.down(5 * 86400)
    world.preflight = Preflight(unanswered=("spec.gates.metrics[error-rate].query: Prometheus is unreachable",))
    run.annotations[APPROVE_ANNOTATION] = "dynamodb"
    run.settle()
    run.tick(60)
    assert world.patches == [] and run.status["reason"] == "PreflightUnanswered"
    old_baseline = run.status["baselineAt"]
    world.preflight = Preflight()
    run.tick(30)
    assert len(world.patches) == 1 and run.status["phases"][0]["approvedBy"] == "annotation"
    assert run.status["baselineAt"] != old_baseline, "nothing had changed: the baseline is taken again"


def test_lifting_an_approval_requirement_after_the_start_is_a_spec_change():
    world = World()
    run = Run(three_phase_spec(approveIrreversible=False), world)
    run.settle()
    assert run.status["state"] == "AwaitingApproval"
    run.spec_body["approveIrreversible"] = True
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Paused", "SpecChanged") and world.patches == []


def test_a_dry_run_that_would_record_too_much_is_refused_not_written():
    """Review input: replacing whole maps of a large platform in a dry run."""
    world = World()
    world.parameters["tags"] = {f"t{i:02d}-" + "k" * 100: "v" * 256 for i in range(40)}
    phases = [{"name": f"p{i}", "changes": [{"op": "replace", "path": "/spec/parameters/tags",
                                             "value": {f"n{i}{j:02d}": "w" * 200 for j in range(40)}}]}
              for i in range(3)]
    run = Run(three_phase_spec(dryRun=True, phases=phases), world)
    run.settle()
    assert run.status["state"] == "Failed" and any("bytes of previous values" in p.get("message", "")
                                                   for p in run.status["phases"])
    assert len(str(run.status)) < 128 * 1024


# -- the review of issue 13 -------------------------------------------------------------------------

def test_a_later_phase_changing_the_parent_of_an_earlier_path_is_not_drift_and_stays_gated():
    phases = [{"name": "one", "changes": [{"op": "replace", "path": "/spec/parameters/compute/instanceType",
                                           "value": "m5.2xlarge"}]},
              {"name": "two", "changes": [{"op": "replace", "path": "/spec/parameters/compute",
                                           "value": {**ORIGINAL["compute"], "instanceType": "m5.xlarge"}}]}]
    world = World()
    run = Run(three_phase_spec(phases=phases), world)
    run.until("Observing")
    run.tick(40)
    assert run.status["reason"] != "Drift" and run.status["phases"][1]["state"] == "Observing"
    world.gates = FAIL
    run.until("RolledBack")
    assert pointer.get(world.parameters, "/spec/parameters/compute/instanceType") == "m5.2xlarge"


def test_nested_paths_in_one_phase_are_refused_at_the_door():
    changes = [{"op": "replace", "path": "/spec/parameters/compute", "value": {**ORIGINAL["compute"]}},
               {"op": "replace", "path": "/spec/parameters/compute/instanceType", "value": "m5.2xlarge"}]
    errors = "; ".join(map(str, spec_errors(three_phase_spec(phases=[{"name": "one", "changes": changes}]))))
    assert "spec.phases[0].changes[1].path: /spec/parameters/compute/instanceType lies inside " \
           "/spec/parameters/compute" in errors


def test_a_value_changed_while_its_phase_is_being_restored_is_a_conflict_not_a_clean_restore():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    run.tick(30)
    world.gates, world.after_patches = FAIL, [WAITING]
    run.tick(10)
    assert run.status["phases"][1]["state"] == "Restoring"
    world.parameters = pointer.put(world.parameters, "/spec/parameters/compute/instanceType", "m5.2xlarge")
    world.readiness = Readiness("Ready")
    run.until("RolledBack", "Failed")
    assert run.status["state"] == "Failed" and "/spec/parameters/compute/instanceType" in run.status["message"]


@pytest.mark.parametrize("edit", [{"phases": "db.r6g.2xlarge"}, {"interval": "1h"}], ids=["phases", "invalid"])
def test_a_patch_whose_status_was_not_written_then_an_edit_is_still_rolled_back_unobserved(edit):
    world = World()
    run = Run(three_phase_spec(), world)
    while not any(p["state"] == "Applying" for p in run.status.get("phases", [])):
        run.step()
    run.step(crash_after_action=True)
    if "phases" in edit:
        run.spec_body["phases"][2]["changes"][0]["value"] = edit["phases"]
    else:
        run.spec_body["gates"]["interval"] = edit["interval"]
    run.settle()
    run.tick(40)
    assert (run.status["state"], run.status["reason"]) == ("RolledBack", "GatesInconclusive")
    assert world.parameters == ORIGINAL


def test_durations_the_schema_admits_but_no_date_can_hold_are_refused():
    gates = {**three_phase_spec()["gates"], "interval": "1000000d", "observationWindow": "4000000d"}
    assert "must be at most 365 days" in "; ".join(map(str, spec_errors(three_phase_spec(gates=gates))))


def test_an_invalid_edit_between_the_lock_and_the_start_releases_the_lock():
    world = World()
    run = Run(three_phase_spec(), world)
    while world.lock is None:
        run.step()
    run.spec_body["gates"]["interval"] = "1h"
    run.settle()
    assert run.status["state"] == "Failed" and world.lock is None


def test_an_apply_timeout_edited_during_a_rollback_does_not_change_it():
    world = World()
    run = rolling_back(world)
    run.spec_body["applyTimeout"] = "1ms"
    run.tick(60)
    assert run.status["state"] == "RollingBack", "the rollback runs on the timeout recorded at the start"


@pytest.mark.parametrize(("change", "door"), [
    pytest.param({"op": "replace", "path": "/spec/parameters/tables/users/hashKey", "value": "id"},
                 "changes the key schema of table-users", id="a table's key"),
    pytest.param({"op": "replace", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole/hashKey",
                      "value": "team"}, "changes GSI table-users/ByRole", id="an index's key"),
    pytest.param({"op": "replace", "path": "/spec/parameters/cache/snapshotRetentionDays", "value": 0},
                 "keeps snapshots of cache-replication-group 0 days instead of 5", id="cache snapshots"),
    pytest.param({"op": "replace", "path": "/spec/parameters/network/natGateways", "value": 1},
                 "deletes Elastic IP nat-eip-2: its public address is released", id="NAT addresses"),
    pytest.param({"op": "replace", "path": "/spec/parameters/network/flowLogRetentionDays", "value": 1},
                 "keeps logs of flow-log-group 1 days instead of 90", id="flow logs"),
    pytest.param({"op": "replace", "path": "/spec/parameters/region", "value": "us-west-2"},
                 "moves cache-replication-group from us-east-1 to us-west-2", id="a region"),
    pytest.param({"op": "replace", "path": "/spec/parameters/database/engineVersion",
                      "value": "8.0.mysql_aurora.3.05.2"}, "an upgrade cannot be rolled back down", id="an engine"),
])
def test_more_one_way_doors_found_from_their_effects(change, door):
    world = World()
    run = Run(three_phase_spec(approveIrreversible=False, phases=[{"name": "p", "changes": [change]}]), world)
    run.settle()
    assert run.status["state"] == "AwaitingApproval", run.status["message"]
    assert any(door in sentence for sentence in run.status["phases"][0]["oneWayDoors"]), \
        run.status["phases"][0]["oneWayDoors"]

"""A person's requests by annotation: retry a plan that ended RolledBack or Failed (a new attempt
from the target's current values; refused while a rollback is in progress), and proceed past an
inconclusive hold (recorded with who and when; refused without a hold)."""

from __future__ import annotations

import copy
import json

from tap_optimizer.plan.model import PROCEED_ANNOTATION, RETRY_ANNOTATION, Readiness
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.plans import FAIL, NO_DATA, PASS, Run, World, three_phase_spec

ORIGINAL = defaulted_parameters({})


def request(by: str, at: str, **more: str) -> str:
    return json.dumps({"by": by, "at": at, **more})


def rolled_back() -> Run:
    """A plan whose first phase failed its gate and was rolled back."""
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    world.gates = FAIL
    run.until("RolledBack")
    world.gates = PASS
    return run


def reasons(run: Run) -> list[str]:
    return [e.reason for e in run.events]


def test_a_retry_after_a_rollback_starts_attempt_2_from_the_targets_current_values():
    run = rolled_back()
    assert run.world.parameters == ORIGINAL and run.world.lock is None
    run.world.parameters = copy.deepcopy(ORIGINAL) | {"region": "eu-west-1"}  # someone changed it since
    run.annotations[RETRY_ANNOTATION] = request("alice", "2026-11-25T13:00:00Z")
    run.settle()
    assert run.status["attempt"] == 2 and run.status["retriedBy"] == "alice"
    assert run.status["attempts"] == [{"attempt": 1, "state": "RolledBack", "reason": "GateFailed",
                                       "message": run.status["attempts"][0]["message"]}]
    assert "Retried" in reasons(run) and run.status["state"] == "Observing"
    assert run.status["phases"][0]["changes"][1] == {"path": "/spec/parameters/tables/audit_logs/streamEnabled",
                                                     "before": True, "after": False}
    run.until("Succeeded")
    assert run.world.parameters["region"] == "eu-west-1"


def test_a_retry_after_a_later_phase_rolled_back_goes_on_from_the_phases_kept_applied():
    """rollbackScope Phase kept phase dynamodb (its GSI removed) when compute failed; attempt 2 failed
    at once ('phase dynamodb cannot apply: ... nothing to remove; nothing was changed'), so a retry
    of the reference plan after a gate failure in its second phase could never run."""
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    while run.status.get("currentPhase", 0) < 1:
        run.tick(5)
    world.gates = FAIL
    run.until("RolledBack")
    assert [p["state"] for p in run.status["phases"]] == ["Succeeded", "RolledBack", "Pending"]
    kept = copy.deepcopy(world.parameters)
    assert "ByRole" not in kept["tables"]["users"]["globalSecondaryIndexes"]
    world.gates = PASS
    run.annotations[RETRY_ANNOTATION] = request("alice", "2026-11-25T13:00:00Z")
    run.until("Succeeded", "Failed", limit=400)
    assert (run.status["state"], run.status["attempt"]) == ("Succeeded", 2), run.status["message"]
    assert run.status["phases"][0]["changes"][0] == {
        "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole"}  # absent before and after
    assert world.parameters["compute"]["instanceType"] == "m5.2xlarge"


def test_a_retry_is_answered_once_so_a_second_failure_stays_rolled_back():
    run = rolled_back()
    run.annotations[RETRY_ANNOTATION] = request("alice", "2026-11-25T13:00:00Z")
    run.until("Observing")
    run.world.gates = FAIL
    run.until("RolledBack")
    run.tick(120)
    assert run.status["state"] == "RolledBack" and run.status["attempt"] == 2
    run.annotations[RETRY_ANNOTATION] = request("bob", "2026-11-25T14:00:00Z")
    run.world.gates = PASS
    run.until("Succeeded")
    assert run.status["attempt"] == 3 and [a["attempt"] for a in run.status["attempts"]] == [1, 2]


def test_a_retry_is_refused_while_a_rollback_is_in_progress_and_does_not_start_later():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    world.after_patches = [Readiness("Waiting", "restoring")]  # the restore is not live yet
    world.gates = FAIL
    run.until("RollingBack")
    run.annotations[RETRY_ANNOTATION] = request("alice", "2026-11-25T13:00:00Z")
    run.settle()
    refused = [e for e in run.events if e.reason == "RetryRefused"]
    assert len(refused) == 1 and "a rollback is in progress" in refused[0].message
    assert run.status["state"] == "RollingBack" and "attempt" not in run.status
    world.readiness = Readiness("Ready")
    world.gates = PASS
    run.until("RolledBack")
    run.tick(60)
    assert run.status["state"] == "RolledBack" and "attempt" not in run.status


def test_a_retry_of_a_plan_under_way_or_succeeded_is_refused_naming_the_state():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    run.annotations[RETRY_ANNOTATION] = "please"
    run.settle()
    refused = next(e for e in run.events if e.reason == "RetryRefused")
    assert "by someone unnamed" in refused.message and "the plan is Observing" in refused.message
    run.until("Succeeded")
    assert run.status.get("attempt") is None


def test_a_retry_with_the_abort_annotation_still_set_is_refused():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    run.annotations["optimization.tap.io/abort"] = "true"
    run.until("RolledBack")
    run.annotations[RETRY_ANNOTATION] = request("alice", "2026-11-25T13:00:00Z")
    run.settle()
    assert run.status["state"] == "RolledBack"
    assert "abort annotation is still set" in next(e for e in run.events if e.reason == "RetryRefused").message


def held(on_inconclusive: str = "Pause") -> Run:
    """A plan whose first phase is held by inconclusive checks."""
    spec = three_phase_spec()
    spec["gates"] = {**spec["gates"], "onInconclusive": on_inconclusive}
    world = World()
    run = Run(spec, world)
    run.until("Observing")
    world.gates = NO_DATA
    run.tick(10)
    return run


def test_proceed_accepts_an_inconclusive_hold_recording_who_and_when():
    run = held()
    assert (run.status["state"], run.status["reason"]) == ("Observing", "InconclusiveCheck")
    run.annotations[PROCEED_ANNOTATION] = request("carol", "2026-11-25T12:01:00Z", phase="dynamodb")
    run.settle()
    first = run.status["phases"][0]
    assert first["state"] == "Succeeded" and (first["acceptedBy"], first["acceptedAt"]) == (
        "carol", "2026-11-25T12:01:00Z")
    assert "inconclusive gate check 1 of 3" in first["acceptedHold"]
    assert run.status["currentPhase"] == 1
    assert any(e.reason == "PhaseSucceeded" and "accepted by carol" in e.message for e in run.events)


def test_proceed_accepts_a_plan_paused_past_its_inconclusive_limit():
    run = held()
    run.tick(30)
    assert (run.status["state"], run.status["reason"]) == ("Paused", "GatesInconclusive")
    run.annotations[PROCEED_ANNOTATION] = request("carol", "2026-11-25T12:02:00Z")
    run.world.gates = PASS
    run.until("Succeeded")
    assert run.status["phases"][0]["acceptedBy"] == "carol"
    assert "acceptedBy" not in run.status["phases"][1]


def test_proceed_without_a_hold_is_refused_and_never_accepts_a_later_hold():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    run.annotations[PROCEED_ANNOTATION] = request("carol", "2026-11-25T12:01:00Z")
    run.settle()
    refused = next(e for e in run.events if e.reason == "ProceedRefused")
    assert "no inconclusive hold to accept (the plan is Observing, Observing)" in refused.message
    run.world.gates = NO_DATA
    run.tick(10)
    assert run.status["reason"] == "InconclusiveCheck" and run.status["phases"][0]["state"] == "Observing"


def test_proceed_naming_another_phase_is_refused():
    run = held()
    run.annotations[PROCEED_ANNOTATION] = request("carol", "2026-11-25T12:01:00Z", phase="compute")
    run.settle()
    assert "it names phase compute, but the hold is phase dynamodb" in \
        next(e for e in run.events if e.reason == "ProceedRefused").message
    assert run.status["phases"][0]["state"] == "Observing"


def test_a_failed_check_wins_over_a_proceed_in_the_same_step():
    run = held()
    run.world.gates = FAIL
    run.annotations[PROCEED_ANNOTATION] = request("carol", "2026-11-25T12:01:00Z")
    run.tick(10)
    assert run.status["state"] in ("RollingBack", "RolledBack")
    assert any(e.reason == "ProceedRefused" for e in run.events)

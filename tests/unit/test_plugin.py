"""`kubectl optplan`'s pure parts: the patch each command writes (or why it refuses) and the tree
it draws, from plans driven by the state machine."""

from __future__ import annotations

import copy
import json

import pytest

from tap_optimizer.plan.model import Readiness
from tap_optimizer.plugin import actions, command, tree
from tests.support.plans import FAIL, NO_DATA, Run, World, three_phase_spec


def body(run: Run, annotations: dict | None = None) -> dict:
    return {"metadata": {"name": run.name, "namespace": "tap", "resourceVersion": "7",
                         "annotations": annotations or {}}, "spec": run.spec_body, "status": run.status}


def waiting() -> Run:
    spec = three_phase_spec()
    spec["phases"][1]["requiresApproval"] = True
    run = Run(spec, World())
    run.until("Observing")
    run.tick(30)
    return run


def test_approve_adds_the_waiting_phase_to_the_list_guarded_by_the_resource_version():
    change = actions.approve(body(waiting(), {"optimization.tap.io/approve": "dynamodb"}), None)
    assert change.patch == {"metadata": {"resourceVersion": "7",
                                         "annotations": {"optimization.tap.io/approve": "dynamodb,compute"}}}


def test_approve_of_an_approved_phase_writes_nothing():
    assert actions.approve(body(waiting(), {"optimization.tap.io/approve": "compute"}), "compute").patch == {}


@pytest.mark.parametrize(("phase", "message"), [
    ("nope", "PHASE: the plan has no phase 'nope'; its phases: dynamodb, compute, database"),
    (None, "PHASE: no phase awaits approval now; name one of: dynamodb, compute, database")],
    ids=["an unknown phase", "no phase given and none waiting"])
def test_approve_refuses_naming_the_phases(phase, message):
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    with pytest.raises(actions.RefusedError) as refused:
        actions.approve(body(run), phase)
    assert (str(refused.value), refused.value.code) == (message, 2)


def test_retry_is_refused_while_rolling_back_and_clears_abort_and_approvals_after():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    world.after_patches = [Readiness("Waiting", "restoring")]
    world.gates = FAIL
    run.until("RollingBack")
    with pytest.raises(actions.RefusedError, match="a rollback is in progress"):
        actions.retry(body(run), "alice", "2026-11-25T13:00:00Z")
    world.readiness = Readiness("Ready")
    run.until("RolledBack")
    change = actions.retry(body(run), "alice", "2026-11-25T13:00:00Z")
    written = change.patch["metadata"]["annotations"]
    assert json.loads(written["optimization.tap.io/retry"]) == {"attempt": 2, "by": "alice",
                                                                 "at": "2026-11-25T13:00:00Z"}
    assert written["optimization.tap.io/abort"] is None and written["optimization.tap.io/approve"] is None


def test_proceed_names_the_held_phase_and_refuses_without_a_hold():
    run = Run(three_phase_spec(), World())
    run.until("Observing")
    with pytest.raises(actions.RefusedError, match=r"no inconclusive hold to accept: the plan is Observing"):
        actions.proceed(body(run), "carol", "t")
    run.world.gates = NO_DATA
    run.tick(10)
    request = actions.proceed(body(run), "carol", "t").patch["metadata"]["annotations"]
    assert json.loads(request["optimization.tap.io/proceed"]) == {"by": "carol", "at": "t", "phase": "dynamodb"}


def test_pause_and_abort_refuse_a_finished_plan():
    run = Run(three_phase_spec(), World())
    run.until("Succeeded")
    for act in (actions.abort, lambda plan: actions.pause(plan, True)):
        with pytest.raises(actions.RefusedError, match="already ended Succeeded"):
            act(body(run))


@pytest.mark.parametrize(("end", "wanted"), [
    ("Succeeded", "the plan already ended Succeeded; no phase waits for approval"),
    ("RolledBack", "the plan already ended RolledBack; no phase waits for approval (retry it: its phases that need "
                   "approval wait for it again)")])
@pytest.mark.parametrize("phase", ["compute", None], ids=["a phase named", "no phase named"])
def test_approve_refuses_a_plan_that_ended(end, wanted, phase):
    """An approval written to an ended plan counts for nothing (a retry removes it): say so, exit 1."""
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    if end == "RolledBack":
        world.gates = FAIL
    run.until(end)
    with pytest.raises(actions.RefusedError) as refused:
        actions.approve(body(run), phase)
    assert (str(refused.value), refused.value.code) == (wanted, 1)


def test_the_tree_draws_phases_changes_checks_and_conditions():
    drawn = tree.render(body(waiting(), {"optimization.tap.io/approve": "dynamodb"}))
    assert "Status:       ॥ AwaitingApproval (AwaitingApproval)" in drawn and "Approved:     dynamodb" in drawn
    lines = drawn.splitlines()
    assert any(line.startswith("├──✔ phase dynamodb") and "Succeeded" in line and "evidence 30/30 s" in line
               for line in lines)
    assert any(line.startswith("│  ├──replace tables/audit_logs/streamEnabled") and "True → False" in line
               for line in lines)
    assert any("check 2026-11-25T12:00:30Z" in line and "error-rate 0.001 (bound 0.005)" in line for line in lines)
    assert any(line.startswith("├──॥ phase compute") and "needs approval" in line for line in lines)
    assert any(line.startswith("   └──Ready=Unknown") for line in lines)


def test_the_list_has_a_line_a_plan():
    first, second = waiting(), Run(three_phase_spec(), World(), name="plan-b")
    listed = tree.table([body(first), copy.deepcopy(body(second))], namespaces=True).splitlines()
    assert listed[0].split() == ["NAMESPACE", "NAME", "TARGET", "STATE", "REASON", "PROGRESS", "ATTEMPT"]
    assert listed[1].split() == ["tap", "plan-a", "tap-prod", "AwaitingApproval", "AwaitingApproval", "1/3", "1"]
    assert listed[2].split() == ["tap", "plan-b", "tap-prod", "Pending", "1"]


@pytest.mark.parametrize("interval", ["-1", "0", "nan"])
def test_a_watch_interval_that_is_not_above_0_is_refused_before_any_read(capsys, interval):
    """-1 crashed in time.sleep once the first tree was drawn; 0 read the plan without pause."""
    with pytest.raises(SystemExit) as exited:
        command.main(["get", "p", "--watch", f"--interval={interval}"])
    assert exited.value.code == 2
    assert f"argument --interval: expected seconds above 0, such as 2 or 0.5, got '{interval}'" in \
        capsys.readouterr().err

"""Random sequences of operator kills, spec edits (valid and invalid), annotations, target edits,
lock removals, target deletions, provider answers and gate verdicts, against two plans on one
target through the pure step loop. Whatever happens:

- at most one plan writes the target (every write the API server takes comes from the lock holder);
- a plan that began rolling back ends RolledBack or Failed;
- no change is patched twice (a repeated step after a crash changes nothing again);
- every value a rollback restored equals the recorded one, unless a conflict is reported for it.
"""

from __future__ import annotations

import contextlib
import copy
import json
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_optimizer.plan.model import ABORT_ANNOTATION, APPROVE_ANNOTATION, TERMINAL, Readiness
from tap_optimizer.platform import pointer
from tests.support.plans import FAIL, NO_DATA, PASS, PatchRefusedError, Run, World, three_phase_spec

ACTIONS = st.sampled_from([
    "tick", "tick", "tick", "tick", "tick", "crash", "crash", "suspend", "resume", "dry-run", "invalid-edit",
    "phases-edit", "revert", "abort", "approve", "drift", "undrift", "unlock", "delete-target", "refuse", "waiting",
    "ready", "pass", "fail", "no-data"])
PATH = "/spec/parameters/compute/instanceType"


@dataclass
class Recorder(World):
    """The world, remembering who wrote what."""

    writes: list[tuple[str, str]] = field(default_factory=list)

    def execute(self, action, holder):
        lock_before = self.lock
        super().execute(action, holder)
        if action.kind != "lock":
            assert lock_before == holder, f"{holder} wrote while {lock_before} held the target"
        self.writes.append((holder, json.dumps(action.ops, sort_keys=True, default=str)))


def apply(action: str, runs: list[Run], world: Recorder, original: dict, checked: set[str]) -> None:
    first = runs[0]
    edits = {
        "suspend": lambda: first.spec_body.update(suspend=True),
        "resume": lambda: first.spec_body.update(suspend=False, dryRun=False),
        "dry-run": lambda: first.spec_body.update(dryRun=True),
        "invalid-edit": lambda: first.spec_body["gates"].update(interval="1h"),
        "phases-edit": lambda: first.spec_body["phases"][2]["changes"][0].update(value="db.r6g.2xlarge"),
        "revert": lambda: setattr(first, "spec_body", copy.deepcopy(original)),
        "abort": lambda: first.annotations.update({ABORT_ANNOTATION: "true"}),
        "approve": lambda: first.annotations.update({APPROVE_ANNOTATION: "dynamodb,compute,database"}),
        "drift": lambda: setattr(world, "parameters", pointer.put(world.parameters, PATH, "c6i.2xlarge")),
        "undrift": lambda: setattr(world, "parameters", pointer.put(world.parameters, PATH, "m5.2xlarge")),
        "unlock": lambda: setattr(world, "lock", None),
        "delete-target": lambda: setattr(world, "exists", False),
        "refuse": lambda: setattr(world, "readiness", Readiness("Refused", "not Synced: refused")),
        "waiting": lambda: setattr(world, "readiness", Readiness("Waiting", "not yet Ready")),
        "ready": lambda: setattr(world, "readiness", Readiness("Ready")),
        "pass": lambda: setattr(world, "gates", PASS),
        "fail": lambda: setattr(world, "gates", FAIL),
        "no-data": lambda: setattr(world, "gates", NO_DATA),
    }
    if action in edits:
        edits[action]()
    for run in runs:
        if action == "crash":
            step_or_refused(run, crash=True)
        run_a_while(run, 10 if action == "tick" else 0)
        checked |= _restored_as_recorded(runs, world, checked)


def step_or_refused(run: Run, crash: bool = False) -> None:
    with contextlib.suppress(PatchRefusedError):
        run.step(crash_after_action=crash)


def run_a_while(run: Run, seconds: float) -> None:
    """What the operator does: step on every event, and on its timer when a wait runs out."""
    run.settle(limit=200)
    if seconds:
        run.tick(seconds)


@settings(max_examples=80, deadline=None)
@given(st.lists(ACTIONS, min_size=1, max_size=25))
def test_whatever_happens_a_plan_ends_safely(actions):
    world = Recorder()
    original = three_phase_spec(applyTimeout="60s")
    runs = [Run(copy.deepcopy(original), world, name="plan-a"), Run(copy.deepcopy(original), world, name="plan-b")]
    began_rolling_back: set[str] = set()
    checked: set[str] = set()
    for action in actions:
        apply(action, runs, world, original, checked)
        began_rolling_back |= {run.name for run in runs if run.status.get("state") == "RollingBack"}
    # then the world calms down: the provider takes what it is given and the gates pass or fail
    world.readiness, world.gates = Readiness("Ready"), FAIL
    for run in runs:
        run.annotations[ABORT_ANNOTATION] = "true"
        run.spec_body = copy.deepcopy(original)
    for _ in range(60):
        for run in runs:
            run_a_while(run, 30)
        checked |= _restored_as_recorded(runs, world, checked)
    for run in runs:
        state = run.status.get("state")
        assert state in TERMINAL or state in (None, "Pending", "Blocked"), (run.name, state, run.status.get("message"))
        if run.name in began_rolling_back:
            assert state in ("RolledBack", "Failed"), (run.name, state)
    for run in runs:
        patches = [ops for holder, ops in world.writes if holder == run.plan.holder and ops != "[]"]
        assert len(patches) == len(set(patches)), f"{run.name} patched a change twice"


def _restored_as_recorded(runs: list[Run], world: World, checked: set[str]) -> set[str]:
    """When a plan has just rolled back (before anyone may change the target again), every path it
    restored holds the recorded value, unless a conflict is reported for it (or the test drifted it)."""
    done = set()
    for run in runs:
        if run.name in checked or run.status.get("state") != "RolledBack" or not world.exists:
            continue
        done.add(run.name)
        for record in run.status.get("phases", []):
            for change in record.get("changes", []) if record["state"] == "RolledBack" else []:
                if change["path"] in record.get("conflicts", []):
                    continue
                found = pointer.get(world.parameters, change["path"])
                assert found == change.get("before", pointer.ABSENT) or change["path"] == PATH, (run.name, change)
    return done

"""The plan status' typed model (plan/status.py) describes every key the machine writes, and its
readers tolerate a status that is partial or absent."""

from __future__ import annotations

import typing
from typing import Any

from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.status import ChangeRecord, Condition, Evidence, Lock, PhaseRecord, PlanStatus, Settings
from tests.support.plans import FAIL, Run, World, three_phase_spec


def _unknown(value: dict[str, Any], model: type, where: str) -> list[str]:
    """Keys of `value` its TypedDict does not declare, and of the TypedDicts inside it."""
    hints = typing.get_type_hints(model)
    found = [f"{where}.{key}" for key in value if key not in hints]
    nested = {"conditions": Condition, "phases": PhaseRecord, "changes": ChangeRecord}
    for key, inner in nested.items():
        for index, item in enumerate(value.get(key) or []):
            found += _unknown(item, inner, f"{where}.{key}[{index}]")
    for key, inner in {"lock": Lock, "settings": Settings, "evidence": Evidence}.items():
        if isinstance(value.get(key), dict):
            found += _unknown(value[key], inner, f"{where}.{key}")
    return found


def _statuses(run: Run, *states: str) -> list[dict[str, Any]]:
    seen = []
    for _ in range(200):
        run.step()
        seen.append(dict(run.status))
        if run.status.get("state") in states:
            return seen
        if not run.due():
            run.tick(60)
    raise AssertionError(f"never reached {states}: {run.status.get('state')}")


def test_every_key_a_plan_writes_on_its_way_to_success_is_in_the_model():
    seen = _statuses(Run(three_phase_spec(), World()), "Succeeded")
    assert [u for status in seen for u in _unknown(status, PlanStatus, "status")] == []


def test_every_key_of_a_rollback_and_of_a_dry_run_is_in_the_model():
    world = World()
    run = Run(three_phase_spec(), world)
    run.until("Observing")
    world.gates = FAIL
    seen = _statuses(run, "RolledBack", "Failed")
    seen += _statuses(Run(three_phase_spec(dryRun=True), World()), "Succeeded", "Failed")
    assert [u for status in seen for u in _unknown(status, PlanStatus, "status")] == []


def test_readers_tolerate_no_status_and_partial_records():
    for empty in (None, {}):
        assert plan_status.state(empty) is None
        assert plan_status.phases(empty) == []
        assert plan_status.current_phase(empty) is None
        assert plan_status.waiting_to_be_live(empty) is None
        assert plan_status.lock_target(empty) is None
        assert plan_status.condition(empty, "Ready") is None
        assert not plan_status.claims(empty, "tap")
    partial = {"state": "Observing", "lock": {"target": "tap"}, "currentPhase": 1,
               "phases": [{"name": "a", "state": "Succeeded"}, {"name": "b", "state": "Restoring"}]}
    assert plan_status.current_phase(partial) == {"name": "b", "state": "Restoring"}
    assert plan_status.waiting_to_be_live(partial) == {"name": "b", "state": "Restoring"}
    assert [p["name"] for p in plan_status.phases_in(partial, "Succeeded")] == ["a"]
    assert plan_status.claims(partial, "tap") and not plan_status.claims(partial, "other")
    assert not plan_status.claims({**partial, "state": "Failed"}, "tap")
    assert plan_status.of({"kopf": {"progress": {}}, "state": "Pending"}) == {"state": "Pending"}

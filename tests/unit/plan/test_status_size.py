"""The plan's status has a hard size budget whatever the CRD admits: a refused status write would
mean no rollback starts (plan.evidence)."""

from __future__ import annotations

from tap_optimizer.plan import evidence
from tests.support.plans import Run, World, three_phase_spec
from tests.support.status_size import BUDGET, SERIES, size, typical_status, worst_case_status


def test_the_worst_case_the_crd_admits_stays_within_the_budget():
    status = worst_case_status()
    assert size(status) <= BUDGET, size(status)
    observed = status["phases"][1]
    assert len(observed["checks"]) == evidence.MAX_CHECK_RECORDS and observed["checksDropped"] > 0
    assert len(observed["gates"]) == evidence.DETAIL_CHECKS
    kept = sum(len(series) for series in status["baseline"].values())
    assert kept == evidence.BASELINE_SERIES, "the baseline keeps its share of series per metric"
    overflow = next(iter(status["baselineOverflow"].values()))
    assert overflow["series"] == SERIES - evidence.baseline_cap(20)
    assert all(len(query) <= evidence.QUERY_LIMIT for query in status["gateQueries"].values())


def test_a_typical_plan_is_a_few_kilobytes():
    assert size(typical_status()) < 8 * 1024


def test_a_phase_whose_recorded_values_would_break_the_budget_fails_before_it_patches():
    body = three_phase_spec(phases=[{"name": "tags", "changes": [
        {"op": "replace", "path": "/spec/parameters/tags", "value": {f"k{i:02d}": "v" * 250 for i in range(40)}}]}])
    world = World()
    world.parameters["tags"] = {f"old-{i:02d}-" + "k" * 100: "w" * 256 for i in range(40)}
    body["phases"].append({"name": "tags-again", "changes": [{"op": "replace", "path": "/spec/parameters/tags",
                                                              "value": {f"n{i:02d}-" + "k" * 100: "v" * 256
                                                                        for i in range(40)}}]})
    run = Run(body, world)
    run.until("Observing")
    run.tick(30)
    run.until("RolledBack", "Failed")
    assert run.status["reason"] == "InvalidChange" and "bytes of status" in run.status["message"]
    assert len(world.patches) == 1, "phase 1 applied (it passed its window and stays); phase 2 never patched"
    assert size(run.status) < BUDGET

"""spec.gates.backtest through the pure state machine: the replay of the gates on history runs
after the preflight and before the target is taken; a rate above maxFalseRollbackRate Blocks the
plan before any change (Block) or starts it with a warning (Warn); only a summary is kept."""

from __future__ import annotations

import pytest

from tap_optimizer.plan.model import BacktestSummary
from tests.support.plans import Run, World, three_phase_spec

POLICY = {"days": 7, "maxFalseRollbackRate": 0.05}  # 60,480 steps at the 10 s interval: within the cap
REPLAYED = {"askedDays": 7, "coveredDays": 7.0, "falseRollbackRate": 0.2, "independentWindows": 7,
            "interval95": [0.036, 0.624], "starts": 288,
            "worst": {"metric": "p99-latency", "series": "{}", "starts": 50, "at": "2026-11-20T12:15:00Z",
                      "message": "p99-latency{} = 0.13 > baseline 0.1 +20% (0.12)"}}


def spec(**backtest) -> dict:
    body = three_phase_spec()
    body["gates"]["backtest"] = {**POLICY, **backtest}
    return body


def test_a_rate_above_the_policy_blocks_the_plan_before_any_change():
    world = World(backtest=BacktestSummary(REPLAYED))
    run = Run(spec(), world)
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Blocked", "BacktestExceeded")
    assert world.lock is None and world.patches == []
    condition = next(c for c in run.status["conditions"] if c["type"] == "Backtest")
    assert (condition["status"], condition["reason"]) == ("False", "FalseRollbackRateExceeded")
    assert "rolled back 20.0% of 288 harmless starts" in condition["message"]
    assert "maxFalseRollbackRate 0.05" in condition["message"] and "most often p99-latency{}" in condition["message"]
    assert run.status["backtest"]["falseRollbackRate"] == 0.2 and "gatesDigest" in run.status["backtest"]
    assert [e.reason for e in run.events].count("BacktestExceeded") == 1
    run.tick(300)
    assert run.status["state"] == "Blocked" and world.lock is None and world.replays == 1  # not replayed again


def test_editing_the_gates_replays_them_and_a_rate_within_the_policy_starts_the_plan():
    world = World(backtest=BacktestSummary(REPLAYED))
    run = Run(spec(), world)
    run.settle()
    run.spec_body = spec(maxFalseRollbackRate=0.25)
    run.tick(30)
    assert world.replays == 2
    assert run.status["state"] == "Progressing" and world.lock == "tap/plan-a"
    condition = next(c for c in run.status["conditions"] if c["type"] == "Backtest")
    assert (condition["status"], condition["reason"]) == ("True", "WithinPolicy")


def test_warn_starts_the_plan_and_keeps_the_summary():
    world = World(backtest=BacktestSummary(REPLAYED))
    run = Run(spec(onExceed="Warn"), world)
    run.until("Observing")
    assert world.lock == "tap/plan-a" and world.patches
    assert "BacktestExceeded" in [e.reason for e in run.events]
    assert run.status["backtest"]["worst"]["metric"] == "p99-latency"


@pytest.mark.parametrize("record", [{**REPLAYED, "falseRollbackRate": None, "reason": "no history to replay",
                                     "coveredDays": 0.0}], ids=["no history is no evidence of a safe gate"])
def test_a_replay_that_judged_nothing_blocks_as_unjudged_not_exceeded(record):
    run = Run(spec(), World(backtest=BacktestSummary(record)))
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Blocked", "BacktestUnjudged")
    assert "no start could be judged (no history to replay)" in run.status["message"]
    assert "rolled back" not in run.status["message"]
    condition = next(c for c in run.status["conditions"] if c["type"] == "Backtest")
    assert (condition["status"], condition["reason"]) == ("False", "Unjudged")
    assert [e.reason for e in run.events].count("BacktestExceeded") == 0


def test_warn_starts_an_unjudged_plan_with_its_own_event():
    world = World(backtest=BacktestSummary({**REPLAYED, "falseRollbackRate": None, "reason": "no history to replay"}))
    run = Run(spec(onExceed="Warn"), world)
    run.until("Observing")
    reasons = [e.reason for e in run.events]
    assert reasons.count("BacktestUnjudged") == 1 and "BacktestExceeded" not in reasons


def test_a_backtest_asking_more_steps_than_the_cap_is_refused_naming_the_fields():
    from tap_optimizer.plan import spec as plan_spec  # noqa: PLC0415

    body = spec(days=14)  # 14 days at the 10 s interval: 120,960 steps per query, above 86,400
    errors = [str(e) for e in plan_spec.spec_errors(body)]
    assert len(errors) == 1 and errors[0].startswith("spec.gates.backtest.days: 14 days at interval 10 s are 120,960")
    assert "at most 86,400 (60 days at 1 minute)" in errors[0]
    run = Run(body, World(backtest=BacktestSummary(REPLAYED)))
    run.settle()
    assert run.status["state"] == "Failed" and "spec.gates.backtest.days" in run.status["message"]


def test_history_prometheus_does_not_answer_keeps_the_plan_pending_and_asks_again():
    world = World(backtest=BacktestSummary(unanswered="Prometheus at http://p:9090 is unreachable"))
    run = Run(spec(), world)
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Pending", "BacktestUnanswered")
    assert world.lock is None and "backtest" not in run.status
    world.backtest = BacktestSummary({**REPLAYED, "falseRollbackRate": 0.0})
    run.tick(30)
    assert world.replays == 2 and world.lock == "tap/plan-a"


def test_a_plan_without_a_backtest_never_replays():
    world = World()
    Run(three_phase_spec(), world).until("Observing")
    assert world.replays == 0

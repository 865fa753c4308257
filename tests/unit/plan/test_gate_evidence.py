"""A phase passes on evidence only, and an unobserved change does not stay: the observed inputs of
issue 12 through the pure state machine."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from tap_optimizer.plan.model import GateVerdict, MetricResult, Preflight
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.plans import NO_DATA, PASS, Run, World, three_phase_spec

CASES = pathlib.Path(__file__).parents[3].parent / "shared" / "cases"
ORIGINAL = defaulted_parameters({})
UNREACHABLE = GateVerdict.of((MetricResult("error-rate", "Inconclusive", "error-rate: Prometheus at "
                                           "http://p:9090 is unreachable", cause="Unreachable"),))
NO_TOKEN = GateVerdict.of((MetricResult("error-rate", "Inconclusive", "error-rate: cannot read the gates' "
                                        "credentials: HTTP 404: Secret tap/prom-token: Not Found",
                                        cause="AccessError"),))


def window_case(**gates) -> dict:
    """Case 07: a compute phase observed 48 h, checked every 15 m (the CRD's defaults)."""
    spec = yaml.safe_load((CASES / "07-window-passes-without-data" / "plan.yaml").read_text())["spec"]
    spec["gates"].update(gates)
    return spec


def observing(spec: dict, world: World) -> Run:
    run = Run(spec, world)
    run.until("Observing")
    return run


def test_case_07_with_the_defaults_the_unobserved_change_is_rolled_back_after_three_checks():
    world = World(gates=NO_DATA)
    run = observing(window_case(), world)
    run.tick(3 * 900, timer=900)
    assert (run.status["state"], run.status["reason"]) == ("RolledBack", "GatesInconclusive")
    assert world.parameters == ORIGINAL
    assert run.status["phases"][0]["evidence"]["checks"] == {"Pass": 0, "Fail": 0, "Inconclusive": 3}


def test_case_07_191_inconclusive_checks_then_one_pass_is_not_a_window_of_evidence():
    """Even with the hold opted into (Pause, the largest limit), one pass earns one interval, not 48 h."""
    world = World(gates=NO_DATA)
    run = observing(window_case(onInconclusive="Pause", inconclusiveLimit=100), world)
    run.tick(191 * 900, timer=900)
    assert run.status["state"] == "Paused"
    world.gates = PASS
    run.tick(900, timer=900)
    record = run.status["phases"][0]
    assert record["state"] == "Observing" and run.status["state"] == "Observing"
    assert record["evidence"]["conclusiveSeconds"] == 900 and record["evidence"]["requiredSeconds"] == 172800
    assert record["evidence"]["checks"] == {"Pass": 1, "Fail": 0, "Inconclusive": 191}
    run.tick(191 * 900, timer=900)
    assert run.status["state"] == "Succeeded", "a whole window of conclusive passes, then it passes"


def test_a_six_hour_prometheus_outage_then_one_pass_rolls_back_with_the_defaults():
    world = World(gates=PASS)
    run = observing(window_case(), world)
    run.tick(4 * 900, timer=900)
    world.gates = UNREACHABLE
    run.tick(6 * 3600, timer=900)
    assert run.status["state"] == "RolledBack" and "Unreachable" in run.status["message"]
    assert world.parameters == ORIGINAL


def test_an_operator_down_for_six_hours_earns_one_interval_on_its_next_pass():
    world = World(gates=PASS)
    run = observing(window_case(), world)
    run.tick(900, timer=900)
    run.down(6 * 3600)
    assert run.status["phases"][0]["evidence"]["conclusiveSeconds"] == 1800
    assert run.status["state"] == "Observing"


def test_an_inconclusive_check_is_visible_at_once_with_its_cause_and_one_event():
    world = World(gates=PASS)
    run = observing(three_phase_spec(), world)
    run.tick(10)
    world.gates = UNREACHABLE
    run.tick(10)
    gates = next(c for c in run.status["conditions"] if c["type"] == "GatesConclusive")
    assert (gates["status"], gates["reason"]) == ("False", "Unreachable")
    assert run.status["reason"] == "InconclusiveCheck" and "check 1 of 3 in a row" in run.status["message"]
    run.tick(10)
    assert [e.reason for e in run.events].count("GatesInconclusive") == 1, "edge-triggered, not one per check"
    world.gates = PASS
    run.tick(10)
    gates = next(c for c in run.status["conditions"] if c["type"] == "GatesConclusive")
    assert gates["status"] == "True" and [e.reason for e in run.events].count("GatesConclusive") == 1


def test_inconclusive_time_extends_the_window_it_is_not_counted():
    world = World(gates=PASS)
    run = observing(three_phase_spec(), world)  # interval 10 s, window 30 s
    run.tick(10)
    world.gates = NO_DATA
    run.tick(20)
    world.gates = PASS
    run.tick(10)
    record = run.status["phases"][0]
    assert record["state"] == "Observing" and record["evidence"]["conclusiveSeconds"] == 20
    run.tick(10)
    assert run.status["phases"][0]["state"] == "Succeeded"
    assert run.status["phases"][0]["evidence"]["checks"] == {"Pass": 3, "Fail": 0, "Inconclusive": 2}


def test_a_secret_that_cannot_be_read_counts_as_inconclusive_and_rolls_back():
    world = World(gates=PASS)
    run = observing(three_phase_spec(), world)
    world.gates = NO_TOKEN
    run.tick(30)
    assert (run.status["state"], run.status["reason"]) == ("RolledBack", "GatesInconclusive")
    assert "Secret tap/prom-token: Not Found" in run.status["message"]


def test_a_rejected_query_fails_the_plan_before_the_target_is_touched():
    world = World(preflight=Preflight(rejected=("spec.gates.metrics[error-rate].query: Prometheus answered HTTP "
                                                "400: bad_data: 1:5: parse error: unexpected end of input",)))
    run = Run(three_phase_spec(), world)
    run.settle()
    assert (run.status["state"], run.status["reason"]) == ("Failed", "InvalidQuery")
    assert "spec.gates.metrics[error-rate].query" in run.status["message"] and "bad_data" in run.status["message"]
    assert world.patches == [] and world.lock is None


def test_an_unanswered_preflight_waits_without_taking_the_target_then_starts():
    world = World(preflight=Preflight(unanswered=("spec.gates.metrics[error-rate].query: Prometheus at "
                                                  "http://p:9090 is unreachable",)))
    run = Run(three_phase_spec(), world)
    run.settle()
    run.tick(120)
    assert (run.status["state"], run.status["reason"]) == ("Pending", "PreflightUnanswered")
    assert world.patches == [] and world.lock is None
    world.preflight = Preflight()
    run.tick(10)
    assert run.status["state"] == "Observing" and "preflightAt" in run.status


@pytest.mark.parametrize("state", ["Observing", "Paused"])
def test_a_fail_while_held_rolls_back(state):
    body = three_phase_spec()
    body["gates"]["onInconclusive"] = "Pause"
    world = World(gates=NO_DATA)
    run = observing(body, world)
    run.tick(30 if state == "Paused" else 10)
    assert run.status["state"] == state
    world.gates = GateVerdict.of((MetricResult("error-rate", "Fail", "error-rate{} = inf is infinitely above",
                                               bound=0.005),))
    run.tick(10)
    assert run.status["state"] == "RolledBack" and world.parameters == ORIGINAL

"""A history request that gets no answer now (a timeout, an outage, a store down) says nothing of
what the live gates saw then: the starts whose baseline or checks fall in it are not judged, and
never counted as inconclusive rollbacks."""

from __future__ import annotations

import math

from tap_optimizer.gates import backtest
from tap_optimizer.plan.spec import GateMetric, Gates

STEP = 900.0
END = math.floor(1_764_000_000 / STEP) * STEP
DAY = 86_400.0


def history(failed: range) -> tuple[Gates, backtest.History]:
    grid = backtest.Grid.ending(END, 3 * DAY, STEP)
    latency, errors = (backtest.QueryHistory.empty(q, grid) for q in ("tap_latency", "tap_errors"))
    for index in range(grid.count):
        latency.steps[index].append(({}, 0.1))
        if index not in failed:
            errors.steps[index].append(({}, 0.001))
    errors.fail(failed.start, failed.stop - 1, "Prometheus at http://prometheus:9090 did not answer within 30 s",
                "Unreachable")
    gates = Gates(prometheus_url="http://prometheus:9090", timeout=30, bearer_token_secret=None, ca_secret=None,
                  insecure_skip_verify=False, interval=STEP, observation_window=6 * 3600, baseline_window=3600,
                  compare_with_last_week=False, inconclusive_limit=3, on_inconclusive="RollBack",
                  metrics=(GateMetric("p99-latency", "tap_latency", 0.5, None, None, None, None),
                           GateMetric("error-rate", "tap_errors", 0.005, None, None, None, None)))
    metrics = {"p99-latency": backtest.MetricHistory(latency), "error-rate": backtest.MetricHistory(errors)}
    return gates, backtest.History(grid, 3, metrics)


def test_a_chunk_without_an_answer_leaves_its_starts_unjudged_not_rolled_back():
    gates, found = history(failed=range(150, 200))  # half a day of one query's history timed out
    report = backtest.replay(gates, found)
    by = report["outcomes"]
    assert by["Inconclusive"] == 0 and by["Fail"] == 0 and report["falseRollbackRate"] == 0.0
    assert by["Unanswered"] > 0 and by["judged"] == by["Pass"] == by["simulated"] - by["Unanswered"]
    unanswered = [s for s in report["starts"] if s["outcome"] == "Unanswered"]
    assert all("did not answer within 30 s" in s["reason"] for s in unanswered)
    assert report["warnings"] == ["error-rate: 50 steps of tap_errors got no answer now (Prometheus at "
                                  "http://prometheus:9090 did not answer within 30 s): the starts whose baseline or "
                                  "checks fall there are not judged (Unanswered)"]


def test_a_query_whose_whole_history_got_no_answer_is_unanswered_not_unjudged():
    gates, found = history(failed=range(0, 289))  # the other query answered: the plan waits, it is not Blocked
    report = backtest.replay(gates, found)
    assert report["falseRollbackRate"] is None
    assert backtest.unanswered(found) == "Prometheus at http://prometheus:9090 did not answer within 30 s"
    assert backtest.summary(report, found).unanswered == backtest.unanswered(found)

"""Gate arithmetic: bounds, baselines, no data and many series, with the worst series named."""

from __future__ import annotations

import math

import pytest

from tap_optimizer.gates.evaluate import OVERALL, baseline_of, judge, series_key, verdict
from tap_optimizer.plan.spec import GateMetric


def metric(**bounds) -> GateMetric:
    fields = {"max": None, "min": None, "max_increase_over_baseline": None, "volume_query": None, "min_volume": None}
    return GateMetric(name="m", query="q", **{**fields, **bounds})


T = [{"tenant": "t1"}, {"tenant": "t2"}, {"tenant": "t3"}]


@pytest.mark.parametrize(
    ("gate", "series", "volume", "baseline", "wanted", "message"),
    [
        (metric(max=0.005), [({}, 0.005)], None, {}, "Pass", "m{} = 0.005 within bounds"),
        (metric(max=0.005), [({}, 0.00501)], None, {}, "Fail", "m{} = 0.00501 > max 0.005"),
        (metric(min=10), [({}, 10)], None, {}, "Pass", "within bounds"),
        (metric(min=10), [({}, 9.9)], None, {}, "Fail", "m{} = 9.9 < min 10"),
        (metric(max=1), [], None, {}, "Inconclusive", "m: the query returned no data"),
        (metric(max=1), [({}, math.nan)], None, {}, "Inconclusive", "m{}: the value is not a finite number"),
        (metric(max=1), [({}, math.inf)], None, {}, "Inconclusive", "not a finite number"),
        (metric(max_increase_over_baseline=0.2), [({}, 0.12)], None, {"{}": 0.1}, "Pass", "within bounds"),
        (metric(max_increase_over_baseline=0.2), [({}, 0.1201)], None, {"{}": 0.1}, "Fail",
         "m{} = 0.1201 > baseline 0.1 +20% (0.12)"),
        (metric(max_increase_over_baseline=0.2), [({}, 0.1)], None, {}, "Inconclusive", "no baseline"),
        (metric(max_increase_over_baseline=0.2), [({}, 0.1)], None, {"{}": 0.0}, "Inconclusive",
         "baseline is 0, a relative increase cannot be judged"),
        (metric(max=1, max_increase_over_baseline=0.2), [({}, 0.5)], None, {"{}": 0.0}, "Pass", "within bounds"),
        (metric(max_increase_over_baseline=0.2), [(T[2], 0.13)], None, {"{}": 0.1, OVERALL: 0.1}, "Fail",
         'm{tenant="t3"} = 0.13 > baseline 0.1'),
        (metric(max=0.005), [(T[0], 0.001), (T[1], 0.02), (T[2], 0.009)], None, {}, "Fail",
         'm{tenant="t2"} = 0.02 > max 0.005'),
        (metric(max=0.005), [(T[0], 0.001), (T[1], 0.004)], None, {}, "Pass", 'm{tenant="t2"} = 0.004'),
        (metric(max=0.005, volume_query="v", min_volume=10), [({}, 0.001)], [({}, 9)], {}, "Inconclusive",
         "traffic 9 is below the minimum 10"),
        (metric(max=0.005, volume_query="v", min_volume=10), [({}, 0.001)], [], {}, "Inconclusive", "below"),
        (metric(max=0.005, volume_query="v", min_volume=10), [({}, 0.001)], [({}, 10)], {}, "Pass", "within"),
    ],
    ids=["a value at the max passes", "just above the max fails", "a value at the min passes", "below the min fails",
         "no data is inconclusive", "NaN is inconclusive", "Inf is inconclusive", "+20% exactly passes",
         "above +20% fails", "a missing baseline is inconclusive", "a zero baseline cannot bound an increase",
         "a zero baseline defers to an absolute bound", "a new series is compared with the overall baseline",
         "the worst of many series is named", "passing names the highest series", "too little traffic",
         "no traffic data", "enough traffic"],
)
def test_judge(gate, series, volume, baseline, wanted, message):
    result = judge(gate, series, volume, baseline)
    assert result.verdict == wanted and message in result.message, result


def test_a_fail_keeps_value_bound_and_query():
    result = judge(metric(max=0.005), [({}, 0.02)], None, {})
    assert (result.value, result.bound, result.query) == (0.02, 0.005, "q")


def test_baseline_keeps_each_series_and_the_worst_and_drops_nan():
    assert baseline_of([(T[0], 0.1), (T[1], 0.3), (T[2], math.nan)]) == {
        '{tenant="t1"}': 0.1, '{tenant="t2"}': 0.3, OVERALL: 0.3}
    assert baseline_of([]) == {}


def test_series_keys_are_stable_and_ignore_the_metric_name():
    assert series_key({"b": "2", "a": "1", "__name__": "x"}) == '{a="1",b="2"}'


def test_any_failure_fails_the_gate_and_no_metric_is_inconclusive():
    ok, bad = judge(metric(max=1), [({}, 0.5)], None, {}), judge(metric(max=1), [({}, 2)], None, {})
    unknown = judge(metric(max=1), [], None, {})
    assert verdict([ok, bad, unknown]).verdict == "Fail"
    assert verdict([ok, unknown]).verdict == "Inconclusive"
    assert verdict([ok]).verdict == "Pass"
    assert verdict([]).verdict == "Inconclusive"

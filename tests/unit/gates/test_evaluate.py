"""Gate arithmetic: bounds, baselines, no data and many series, with the worst series named."""

from __future__ import annotations

import math

import pytest

from tap_optimizer.gates.evaluate import (
    baseline_of,
    capped,
    gate_verdict,
    judge,
    series_key,
    stored_baseline,
    worse_baseline,
)
from tap_optimizer.plan.spec import GateMetric


def metric(**bounds: float | str) -> GateMetric:
    unset = {"max": None, "min": None, "max_increase_over_baseline": None, "volume_query": None, "min_volume": None}
    return GateMetric(name="m", query="q", **{**unset, **bounds})


MAX = metric(max=0.005)
RANGE = metric(min=1, max=10)
UP20 = metric(max_increase_over_baseline=0.2)
UP20_OR_MAX = metric(max_increase_over_baseline=0.2, max=1)
VOLUME = metric(max=0.005, volume_query="v", min_volume=10)
T1, T2, T3 = {"tenant": "t1"}, {"tenant": "t2"}, {"tenant": "t3"}


def case(reason: str, gate: GateMetric, series: list, wanted: str, message: str, *, baseline: dict | None = None,
         volume: list | None = None):
    return pytest.param(gate, series, volume, baseline or {}, wanted, message, id=reason)


@pytest.mark.parametrize(("gate", "series", "volume", "baseline", "wanted", "message"), [
    case("a value exactly at the max passes", MAX, [({}, 0.005)], "Pass", "m{} = 0.005 <= max 0.005"),
    case("just above the max fails", MAX, [({}, 0.00501)], "Fail", "m{} = 0.00501 > max 0.005"),
    case("a value exactly at the min passes", RANGE, [({}, 1)], "Pass", "m{} = 1 <= max 10 and >= min 1"),
    case("just below the min fails", RANGE, [({}, 0.99)], "Fail", "m{} = 0.99 < min 1"),
    case("above the max of a range fails", RANGE, [({}, 11)], "Fail", "m{} = 11 > max 10"),
    case("inside min and max passes", RANGE, [({}, 5)], "Pass", "m{} = 5 <= max 10 and >= min 1"),
    case("an empty result is inconclusive", MAX, [], "Inconclusive", "m: the query returned no data"),
    case("NaN is inconclusive", MAX, [({}, math.nan)], "Inconclusive", "m{} = nan is not a finite number"),
    case("+Inf above a max fails: every request failing gives x/0", MAX, [({}, math.inf)], "Fail",
         "m{} = inf is infinitely above its upper bound"),
    case("+Inf above a relative bound fails", UP20, [({}, math.inf)], "Fail", "infinitely above",
         baseline={"{}": 0.1}),
    case("+Inf with only a min says nothing", metric(min=1), [({}, math.inf)], "Inconclusive", "not a finite"),
    case("-Inf below a min fails", metric(min=1), [({}, -math.inf)], "Fail", "m{} = -inf < min 1"),
    case("-Inf with only a max says nothing", MAX, [({}, -math.inf)], "Inconclusive", "not a finite number"),
    case("exactly +20% over the baseline passes", UP20, [({}, 0.12)], "Pass",
         "m{} = 0.12 <= baseline 0.1 +20% (0.12)", baseline={"{}": 0.1}),
    case("+15% of 0.05 is 0.0575 although 0.05 * 1.15 rounds below it", metric(max_increase_over_baseline=0.15),
         [({}, 0.0575)], "Pass", "<= baseline 0.05 +15%", baseline={"{}": 0.05}),
    case("above +20% fails", UP20, [({}, 0.1201)], "Fail", "m{} = 0.1201 > baseline 0.1 +20% (0.12)",
         baseline={"{}": 0.1}),
    case("a missing baseline is inconclusive", UP20, [({}, 0.1)], "Inconclusive",
         "m{} = 0.1 has no baseline to compare with"),
    case("a missing baseline is inconclusive even when the max passes", UP20_OR_MAX, [({}, 0.1)], "Inconclusive",
         "no baseline"),
    case("a missing baseline does not hide a failing max", UP20_OR_MAX, [({}, 2)], "Fail", "m{} = 2 > max 1"),
    case("a zero baseline and zero now is no increase", UP20, [({}, 0.0)], "Pass",
         "m{} = 0 <= baseline 0 (no increase)", baseline={"{}": 0.0}),
    case("an error ratio from 0 to 50 % on a relative bound fails", UP20, [({}, 0.5)], "Fail",
         "m{} = 0.5 > baseline 0 (any increase over a baseline of 0 fails)", baseline={"{}": 0.0}),
    case("any increase over a zero baseline fails, whatever the max", UP20_OR_MAX, [({}, 0.5)], "Fail",
         "> baseline 0", baseline={"{}": 0.0}),
    case("a new series without a max is inconclusive", UP20, [(T1, 0.1), (T3, 0.37)], "Inconclusive",
         'm{tenant="t3"} = 0.37 is a series new since the baseline', baseline={'{tenant="t1"}': 0.1}),
    case("a new series is judged by the max, not another series' baseline", UP20_OR_MAX, [(T1, 0.1), (T3, 0.9)],
         "Pass", 'm{tenant="t3"} = 0.9 <= max 1', baseline={'{tenant="t1"}': 0.1}),
    case("a new series above the max fails", UP20_OR_MAX, [(T1, 0.1), (T3, 1.2)], "Fail",
         'm{tenant="t3"} = 1.2 > max 1', baseline={'{tenant="t1"}': 0.1}),
    case("a series that vanished since the baseline is inconclusive, naming it", MAX, [(T1, 0.001)], "Inconclusive",
         'm{tenant="t2"} had a baseline of 0.002 and returns no value now',
         baseline={'{tenant="t1"}': 0.001, '{tenant="t2"}': 0.002}),
    case("a vanished series does not hide a failing one", MAX, [(T1, 0.01)], "Fail", 'm{tenant="t1"} = 0.01 > max',
         baseline={'{tenant="t1"}': 0.001, '{tenant="t2"}': 0.002}),
    case("a series is compared with its own baseline", UP20, [(T1, 0.13), (T2, 0.3)], "Fail",
         'm{tenant="t1"} = 0.13 > baseline 0.1', baseline={'{tenant="t1"}': 0.1, '{tenant="t2"}': 0.3}),
    case("one bad tenant among many fails and is named", MAX, [(T1, 0.001), (T2, 0.0123), (T3, 0.002)], "Fail",
         'm{tenant="t2"} = 0.0123 > max 0.005'),
    case("the furthest past its bound is named, with the count", MAX, [(T1, 0.001), (T2, 0.02), (T3, 0.009)], "Fail",
         'm{tenant="t2"} = 0.02 > max 0.005 (2 of 3 series fail)'),
    case("a failing tenant is not hidden by a quiet tenant's NaN", MAX, [(T1, math.nan), (T2, 0.02)], "Fail",
         'm{tenant="t2"} = 0.02 > max 0.005'),
    case("a NaN tenant among passing ones is inconclusive", MAX, [(T1, math.nan), (T2, 0.001)], "Inconclusive",
         'm{tenant="t1"} = nan'),
    case("passing names the series closest to its bound", MAX, [(T1, 0.001), (T2, 0.004)], "Pass",
         'm{tenant="t2"} = 0.004 <= max 0.005'),
    case("passing against a min names the lowest series", metric(min=1), [(T1, 3), (T2, 2)], "Pass",
         'm{tenant="t2"} = 2 >= min 1'),
    case("too little traffic is inconclusive even when failing", VOLUME, [({}, 0.5)], "Inconclusive",
         "m{} = 0.5 has traffic 9, below the minimum 10", volume=[({}, 9)]),
    case("one quiet tenant's single error (1 of 2 requests) is inconclusive for it, not a Fail for all",
         VOLUME, [(T1, 0.5), (T2, 0.001)], "Inconclusive", 'm{tenant="t1"} = 0.5 has traffic 2, below the minimum 10',
         volume=[(T1, 2), (T2, 500)]),
    case("a busy tenant failing beside a quiet one fails", VOLUME, [(T1, 0.5), (T2, 0.02)], "Fail",
         'm{tenant="t2"} = 0.02 > max 0.005', volume=[(T1, 2), (T2, 500)]),
    case("per-series traffic: a series without a volume series has no traffic figure", VOLUME,
         [(T1, 0.001), (T2, 0.001)], "Inconclusive", 'm{tenant="t2"} = 0.001 has no traffic figure',
         volume=[(T1, 500)]),
    case("traffic is summed over the volume series", VOLUME, [({}, 0.001)], "Pass", "<= max",
         volume=[(T1, 5), (T2, 5)]),
    case("an empty volume query is inconclusive", VOLUME, [({}, 0.001)], "Inconclusive",
         "m: the volume query returned no data", volume=[]),
    case("a NaN volume is no volume", VOLUME, [({}, 0.001)], "Inconclusive", "volume query returned no data",
         volume=[({}, math.nan)]),
    case("enough traffic lets the bound judge", VOLUME, [({}, 0.001)], "Pass", "m{} = 0.001 <= max 0.005",
         volume=[({}, 10)]),
    case("a metric with no bound is never a pass", metric(), [({}, 1)], "Inconclusive", "has no bound to judge by"),
])
def test_judge(gate, series, volume, baseline, wanted, message):
    result = judge(gate, series, volume, baseline)
    assert (result.verdict, message in result.message) == (wanted, True), result


def tenants(count: int) -> dict[str, float]:
    return {f'{{tenant="t{i:03d}"}}': i * 0.0001 for i in range(count)}


def test_past_the_cap_a_zero_baseline_stays_exact_and_a_vanished_series_is_noticed():
    """Review input: 100 tenants with baselines i * 0.0001, a cap of 66."""
    kept, overflow = capped(tenants(100), 66)
    assert '{tenant="t000"}' in kept and overflow == {"series": 34, "min": 0.0066}
    baseline = stored_baseline(kept, overflow)
    now = [({"tenant": f"t{i:03d}"}, i * 0.0001) for i in range(100)]
    zero_up = [({"tenant": "t000"}, 0.0039), *now[1:]]
    assert judge(UP20, zero_up, None, baseline).verdict == "Fail", "any increase over a zero baseline fails"
    stricter = judge(UP20, now, None, baseline)
    assert (stricter.verdict, stricter.series) == ("Fail", '{tenant="t099"}'), "past the cap: stricter, never looser"
    four_left_out = stored_baseline(kept, {"series": 4, "min": 0.0066})
    assert judge(UP20, now[:70], None, four_left_out).verdict == "Pass"
    assert judge(UP20, [s for s in now[:70] if s[0]["tenant"] != "t010"], None, four_left_out).cause == \
        "SeriesVanished"
    assert judge(UP20, now[:69], None, four_left_out).cause == "SeriesVanished", "past the cap, counted"


def test_a_series_left_out_is_compared_with_the_smallest_left_out_never_a_looser_bound():
    kept, overflow = capped({"{a}": 0.01, "{b}": 0.05, "{c}": 2.0}, 1)
    baseline = stored_baseline(kept, overflow)
    assert overflow == {"series": 2, "min": 0.05}
    assert judge(UP20, [({"a": ""}, 0.01), ({"b": ""}, 2.3), ({"c": ""}, 2.0)], None, baseline).verdict == "Fail"


def test_a_long_series_key_keeps_its_own_baseline_as_a_digest():
    """Review input: keys of 139 characters must not share a bound with a slower route."""
    orders = {"instance": "ip-10-0-1-23.ec2.internal:8080",
              "route": "/api/v1/tenants/:tenant/orders/:order/items/:item/attachments", "tenant": "acme-corporation"}
    export = {**orders, "route": "/api/v1/tenants/:tenant/exports/full-account-history/download"}
    values = baseline_of([(orders, 0.05), (export, 2.0), ({"route": "/health"}, 0.01)])
    assert all(len(key) <= 128 for key in values) and len(values) == 3
    baseline = stored_baseline(values)
    assert judge(UP20, [(orders, 2.3), (export, 2.0), ({"route": "/health"}, 0.01)], None, baseline).verdict == "Fail"
    assert judge(UP20, [(export, 2.0), ({"route": "/health"}, 0.01)], None, baseline).cause == "SeriesVanished"


def test_a_baseline_keeps_only_series_with_enough_traffic():
    series = [(T1, 0.1), (T2, 0.2)]
    assert baseline_of(series, [(T1, 50), (T2, 3)], 10) == {'{tenant="t1"}': 0.1}
    assert baseline_of(series, [({}, 9)], 10) == {}
    assert baseline_of(series, [({}, 10)], 10) == {'{tenant="t1"}': 0.1, '{tenant="t2"}': 0.2}


def test_a_result_keeps_value_bound_and_query_for_the_status():
    failed = judge(MAX, [({}, 0.02)], None, {})
    relative = judge(UP20, [({}, 0.1)], None, {"{}": 0.1})
    assert (failed.name, failed.value, failed.bound, failed.query) == ("m", 0.02, 0.005, "q")
    assert relative.bound == pytest.approx(0.12)


def test_no_data_keeps_no_value_to_serialise():
    assert judge(MAX, [({}, math.nan)], None, {}).value is None
    assert judge(MAX, [], None, {}).value is None


def test_the_stored_baseline_keeps_each_finite_series_and_nothing_for_no_data():
    assert baseline_of([(T1, 0.1), (T2, 0.3), (T3, math.nan)]) == {'{tenant="t1"}': 0.1, '{tenant="t2"}': 0.3}
    assert baseline_of([]) == {}


def test_the_worse_of_two_baselines_is_the_larger_per_series():
    now, last_week = {"{a}": 1.0, "{b}": 5.0}, {"{a}": 2.0, "{c}": 3.0}
    assert worse_baseline(now, last_week) == {"{a}": 2.0, "{b}": 5.0, "{c}": 3.0}
    assert worse_baseline({}, {}) == {}


@pytest.mark.parametrize(("stored", "wanted"), [
    pytest.param({"{}": 0.1, '{tenant="t1"}': 2}, {"{}": 0.1, '{tenant="t1"}': 2.0}, id="as captured"),
    pytest.param(0.001, {"{}": 0.001}, id="a bare number is the whole metric's"),
    pytest.param({"{}": "0.1", "{x}": True, "{y}": None}, {}, id="values that are not numbers are ignored"),
    pytest.param(None, {}, id="no baseline"),
    pytest.param("high", {}, id="not a baseline at all"),
])
def test_a_baseline_read_back_from_the_status(stored, wanted):
    assert stored_baseline(stored).series == wanted


def test_series_keys_are_stable_and_ignore_the_metric_name():
    assert series_key({"b": "2", "a": "1", "__name__": "x"}) == '{a="1",b="2"}'
    assert series_key({}) == "{}"


def test_any_failure_fails_the_gate_and_otherwise_any_inconclusive_holds_it():
    ok, bad, unknown = judge(MAX, [({}, 0.001)], None, {}), judge(MAX, [({}, 2)], None, {}), judge(MAX, [], None, {})
    assert gate_verdict([ok, bad, unknown]).verdict == "Fail"
    assert gate_verdict([ok, unknown]).verdict == "Inconclusive"
    assert gate_verdict([ok]).verdict == "Pass"
    assert gate_verdict([]).verdict == "Inconclusive"
    assert gate_verdict([ok, bad]).metrics == (ok, bad)

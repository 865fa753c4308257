"""Properties of gate judging over generated inputs: a Pass needs every series finite, within every
bound, with enough traffic; a certainly bad value is never a Pass; judging never raises."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_optimizer.gates.evaluate import MetricBaseline, judge, series_key
from tap_optimizer.plan.spec import GateMetric

VALUES = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(-10, 10))
TENANTS = st.sampled_from(["t1", "t2", "t3", "t4"])
SERIES = st.dictionaries(TENANTS, VALUES, max_size=4).map(lambda d: [({"tenant": t}, v) for t, v in d.items()])
BOUND = st.one_of(st.none(), st.floats(-5, 5))


@st.composite
def metrics(draw: st.DrawFn) -> GateMetric:
    low, high, increase = draw(BOUND), draw(BOUND), draw(st.one_of(st.none(), st.floats(0, 3)))
    if low is not None and high is not None and low > high:
        low, high = high, low
    volume = draw(st.booleans())
    return GateMetric("m", "q", max=high, min=low, max_increase_over_baseline=increase,
                      volume_query="v" if volume else None, min_volume=draw(st.floats(0, 100)) if volume else None)


def within(metric: GateMetric, value: float, baseline: MetricBaseline, key: str) -> bool:
    slack = 1e-9 * max(1.0, abs(value))
    if metric.max is not None and value > metric.max + slack:
        return False
    if metric.min is not None and value < metric.min - slack:
        return False
    if metric.max_increase_over_baseline is not None:
        own = baseline.series.get(key, baseline.others)
        if baseline.empty or (own is None and metric.max is None):
            return False
        if own is not None:
            bound = own if own <= 0 else own * (1 + metric.max_increase_over_baseline)
            if value > bound + 1e-9 * max(1.0, abs(bound)):
                return False
    return True


@settings(max_examples=400, deadline=None)
@given(metric=metrics(), series=SERIES, volume=st.one_of(st.none(), SERIES),
       baseline=st.dictionaries(TENANTS.map(lambda t: f'{{tenant="{t}"}}'), st.floats(0, 5), max_size=4))
def test_a_pass_needs_every_series_finite_within_every_bound_with_enough_traffic(metric, series, volume, baseline):
    base = MetricBaseline(baseline)
    result = judge(metric, series, volume, base)
    if result.verdict != "Pass":
        return
    assert series, "no data is never a pass"
    assert any(b is not None for b in (metric.max, metric.min, metric.max_increase_over_baseline))
    for labels, value in series:
        assert math.isfinite(value)
        assert within(metric, value, base, series_key(labels)), (labels, value)
        if metric.min_volume is not None:
            per_series = {series_key(lab): v for lab, v in volume or [] if math.isfinite(v)}
            own = per_series.get(series_key(labels))
            total = sum(per_series.values())
            assert (own if own is not None else total) >= metric.min_volume * (1 - 1e-9)
    assert not (set(baseline) - {series_key(labels) for labels, _ in series}), "a vanished series is never a pass"


@settings(max_examples=200, deadline=None)
@given(metric=metrics(), series=SERIES, baseline=st.dictionaries(
    TENANTS.map(lambda t: f'{{tenant="{t}"}}'), st.floats(0, 5), max_size=4))
def test_a_certainly_bad_value_is_never_a_pass_and_judging_never_raises(metric, series, baseline):
    poisoned = [*series, ({"tenant": "x"}, math.inf)]
    result = judge(metric, poisoned, None if metric.min_volume is None else [({}, 1e9)], MetricBaseline(baseline))
    assert result.verdict != "Pass"
    if metric.max is not None or metric.max_increase_over_baseline is not None:
        assert result.verdict == "Fail"

"""Judging one gate metric, as pure functions: the series a query returned, the traffic behind
them and the stored baseline in; a verdict naming the worst series out.

Fail-safe by construction: no data, NaN, infinity, too little traffic or a missing baseline is
Inconclusive, never Pass. Decisions are a chain of small named checks, each testable alone, whose
phrases end up verbatim in the plan's status and Events ("why did it roll back?"):

- metric checks (`no_data`, `too_little_traffic`) return a reason the whole metric cannot be judged;
- bound checks (`max_bound`, `min_bound`, `increase_over_baseline`) judge one series against one
  bound, or return None when the metric does not set that bound.

A query may return several series (`by (tenant)`): every series must pass. A Fail anywhere beats
an Inconclusive elsewhere (a quiet tenant's 0/0 must not hide a failing one), and the result names
the worst series: the one furthest past its bound, or, when all pass, the one closest to it.

Bounds are inclusive: a value equal to its bound (up to float rounding, so that 0.05 * 1.15 is
0.0575) passes.

Baselines (`maxIncreaseOverBaseline`): a series is compared with the baseline of the same series
(same labels); a series that had none (a new tenant) with the metric's overall baseline, the
largest of its series. A metric without any baseline is Inconclusive: the spec asked for a
comparison that cannot be made, and passing would silently drop the gate. A baseline of zero (or
below) gives no relative size to an increase: a value not above it passes (nothing increased);
a value above it is judged by the metric's `max` alone when it has one, and is Inconclusive
otherwise. Prometheus' empty answer is never read as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from tap_optimizer.plan.model import GateVerdict, MetricResult
from tap_optimizer.plan.spec import GateMetric

Labels = Mapping[str, str]
Series = list[tuple[Labels, float]]
Verdict = Literal["Pass", "Fail", "Inconclusive"]

ROUNDING = 1e-9  # relative tolerance within which a value is *at* its bound
SEVERITY: dict[Verdict, int] = {"Pass": 0, "Inconclusive": 1, "Fail": 2}


def series_key(labels: Labels) -> str:
    """A stable name for a series: `{tenant="t1"}`, `{}` without labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return "{" + inner + "}"


# -- baselines ----------------------------------------------------------------------------------

def baseline_of(series: Series) -> dict[str, float]:
    """What to store as a metric's baseline: each finite series by its key; no data, no entry."""
    return {series_key(labels): value for labels, value in series if math.isfinite(value)}


def worse_baseline(one: Mapping[str, float], other: Mapping[str, float]) -> dict[str, float]:
    """Per series the larger of two baselines (now and a week ago): gating on the worse of the two."""
    return {key: max(one.get(key, -math.inf), other.get(key, -math.inf)) for key in {*one, *other}}


def stored_baseline(stored: Any) -> dict[str, float]:
    """A metric's baseline as read back from the plan's status, which a person may have edited:
    {series key: value}; a bare number is the whole metric's; anything not a number is ignored."""
    if _is_number(stored):
        return {series_key({}): float(stored)}
    if not isinstance(stored, Mapping):
        return {}
    return {str(key): float(value) for key, value in stored.items() if _is_number(value)}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _baseline_for(labels: Labels, baseline: Mapping[str, float]) -> float | None:
    """The series' own baseline, else the metric's overall one (the largest), else None."""
    own = baseline.get(series_key(labels))
    return own if own is not None else max(baseline.values(), default=None)


# -- metric checks: can this metric be judged at all? -------------------------------------------

MetricCheck = Callable[[GateMetric, Series, Series | None], str | None]


def no_data(metric: GateMetric, series: Series, _volume: Series | None) -> str | None:
    """An empty vector is what `rate()` gives before it has two samples: no data, not zero."""
    return f"{metric.name}: the query returned no data" if not series else None


def too_little_traffic(metric: GateMetric, _series: Series, volume: Series | None) -> str | None:
    """A ratio over a handful of requests says nothing; the volume is the sum of the volume query's series."""
    if metric.min_volume is None:
        return None
    finite = [value for _, value in volume or [] if math.isfinite(value)]
    if not finite:
        return f"{metric.name}: the volume query returned no data"
    if sum(finite) < metric.min_volume:
        return f"{metric.name}: traffic {sum(finite):.6g} is below the minimum {metric.min_volume:g}"
    return None


METRIC_CHECKS: tuple[MetricCheck, ...] = (no_data, too_little_traffic)


# -- bound checks: one series against one bound -------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One series against one bound. `phrase` completes "<series> = <value> ..."; `excess` is how
    far past the bound the value is, relative to it (negative when inside): it ranks series."""

    verdict: Verdict
    phrase: str
    bound: float | None = None
    excess: float = -math.inf


BoundCheck = Callable[[GateMetric, float, float | None], Outcome | None]


def max_bound(metric: GateMetric, value: float, _baseline: float | None) -> Outcome | None:
    return None if metric.max is None else _at_most(value, metric.max, f"max {metric.max:g}")


def min_bound(metric: GateMetric, value: float, _baseline: float | None) -> Outcome | None:
    if metric.min is None:
        return None
    excess = _relative(metric.min - value, metric.min)
    if value < metric.min and not math.isclose(value, metric.min, rel_tol=ROUNDING):
        return Outcome("Fail", f"< min {metric.min:g}", metric.min, excess)
    return Outcome("Pass", f">= min {metric.min:g}", metric.min, excess)


def increase_over_baseline(metric: GateMetric, value: float, baseline: float | None) -> Outcome | None:
    increase = metric.max_increase_over_baseline
    if increase is None:
        return None
    if baseline is None:
        return Outcome("Inconclusive", "has no baseline to compare with")
    if baseline <= 0:
        return _against_non_positive(metric, value, baseline)
    bound = baseline * (1 + increase)
    return _at_most(value, bound, f"baseline {baseline:.6g} +{increase * 100:g}% ({bound:.6g})")


def _against_non_positive(metric: GateMetric, value: float, baseline: float) -> Outcome | None:
    """No relative size for an increase over zero: not above passes; above defers to `max` if any."""
    if value <= baseline:
        excess = _relative(value - baseline, baseline)
        return Outcome("Pass", f"<= baseline {baseline:g} (no increase)", baseline, excess)
    if metric.max is not None:
        return None
    return Outcome("Inconclusive", f"is above a baseline of {baseline:g}, which gives an increase no relative size")


def _at_most(value: float, bound: float, what: str) -> Outcome:
    excess = _relative(value - bound, bound)
    if value > bound and not math.isclose(value, bound, rel_tol=ROUNDING):
        return Outcome("Fail", f"> {what}", bound, excess)
    return Outcome("Pass", f"<= {what}", bound, excess)


def _relative(over: float, bound: float) -> float:
    """`over` as a fraction of the bound; past a zero bound, infinitely far; at or inside it, `over`."""
    if bound:
        return over / abs(bound)
    return math.inf if over > 0 else over


BOUND_CHECKS: tuple[BoundCheck, ...] = (max_bound, min_bound, increase_over_baseline)


# -- verdicts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesResult:
    """One series' verdict, and how far past its bound it is, to find the worst series."""

    result: MetricResult
    excess: float

    @property
    def rank(self) -> tuple[int, float]:
        return SEVERITY[self.result.verdict], self.excess


def judge(metric: GateMetric, series: Series, volume: Series | None, baseline: Mapping[str, float]) -> MetricResult:
    """The verdict of one metric at one check: its worst series, Fail if any series fails."""
    reason = next((r for check in METRIC_CHECKS if (r := check(metric, series, volume))), None)
    if reason:
        return MetricResult(metric.name, "Inconclusive", reason, query=metric.query)
    judged = [judge_series(metric, labels, value, baseline) for labels, value in series]
    worst = max(judged, key=lambda s: s.rank).result
    failing = sum(s.result.verdict == "Fail" for s in judged)
    if failing > 1:
        return replace(worst, message=f"{worst.message} ({failing} of {len(judged)} series fail)")
    return worst


def judge_series(metric: GateMetric, labels: Labels, value: float, baseline: Mapping[str, float]) -> SeriesResult:
    """One series against every bound the metric sets: Fail on any, Inconclusive if any cannot be judged."""
    name = metric.name + series_key(labels)
    if not math.isfinite(value):
        reason = f"{name} = {value}: the value is not a finite number"
        return SeriesResult(MetricResult(metric.name, "Inconclusive", reason, query=metric.query), -math.inf)
    own = _baseline_for(labels, baseline)
    outcomes = [o for check in BOUND_CHECKS if (o := check(metric, value, own)) is not None]
    if not outcomes:
        outcomes = [Outcome("Inconclusive", "has no bound to judge by")]
    worst = max(outcomes, key=lambda o: (SEVERITY[o.verdict], o.excess))
    phrase = " and ".join(o.phrase for o in outcomes) if worst.verdict == "Pass" else worst.phrase
    message = f"{name} = {value:.6g} {phrase}"
    return SeriesResult(MetricResult(metric.name, worst.verdict, message, value, worst.bound, metric.query),
                        worst.excess)


def gate_verdict(results: list[MetricResult]) -> GateVerdict:
    """One check of all metrics: Fail if any fails, else Inconclusive if any is (or there are none)."""
    return GateVerdict.of(tuple(results))

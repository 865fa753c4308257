"""Judging one gate metric, as pure functions: the series a query returned, the traffic behind
them and the stored baseline in; a verdict naming the worst series out.

Fail-safe by construction. A Pass needs every series to hold a finite value within every bound
the metric sets, with enough traffic behind it. What cannot be judged is Inconclusive with a
`cause` (no data, too little traffic, NaN, no baseline, a new series without a `max`, a series that
vanished); what is certainly bad is a Fail, never Inconclusive: +Inf against an upper bound (every
request failing makes `x/0`), -Inf against a `min`, and any increase over a zero baseline on a
relative bound. Decisions are a chain of small named checks, each testable alone, whose phrases end
up verbatim in the plan's status and Events ("why did it roll back?"):

- metric checks (`no_data`, `no_volume`) return a reason the whole metric cannot be judged;
- bound checks (`max_bound`, `min_bound`, `increase_over_baseline`) judge one series against one
  bound, or return None when the metric does not set that bound.

Series are judged as series. A query may return several (`by (tenant)`): every one must pass. A
Fail anywhere beats an Inconclusive elsewhere (a quiet tenant's 0/0 must not hide a failing one),
and the result names the worst series: the one furthest past its bound, or, when all pass, the one
closest to it.

- Traffic (`minVolume`): when the volume query returns series with the same labels as the metric's,
  each series needs its own traffic (a quiet tenant is Inconclusive for that tenant, not a Fail for
  all); otherwise the volume is the sum of the volume query's series and speaks for every series.
- Baselines (`maxIncreaseOverBaseline`): a series is compared with its own baseline (same labels).
  A series without one is new: it is judged by the metric's `max`, and is Inconclusive without one.
  When the baseline kept only some series (a cap on status size: `capped` keeps the smallest
  values, so zero baselines stay exact), a series without its own entry is compared with the
  smallest baseline of the series not kept: never looser than its own, possibly stricter. A metric
  without any baseline is Inconclusive: the spec asked for a comparison that cannot be made.
- A series that had a baseline and returns no value now has vanished (the service or tenant may be
  down, or its requests all fail): Inconclusive, naming it; past the cap, fewer series than were
  left out is a vanished one too. Queries should keep every series present (`or on(tenant) ... * 0`
  where a series may legitimately go quiet).

Bounds are inclusive: a value equal to its bound (up to float rounding, so that 0.05 * 1.15 is
0.0575) passes. Prometheus' empty answer is never read as zero.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from tap_optimizer.plan.model import Cause, GateVerdict, MetricResult
from tap_optimizer.plan.spec import GateMetric

Labels = Mapping[str, str]
Series = list[tuple[Labels, float]]
Verdict = Literal["Pass", "Fail", "Inconclusive"]

ROUNDING = 1e-9  # relative tolerance within which a value is *at* its bound
KEY_LIMIT = 128  # characters of a series key kept as is in status; a longer one is kept as a digest
SEVERITY: dict[Verdict, int] = {"Pass": 0, "Inconclusive": 1, "Fail": 2}


def series_key(labels: Labels) -> str:
    """A stable name for a series: `{tenant="t1"}`, `{}` without labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return "{" + inner + "}"


def stored_key(key: str) -> str:
    """How a series key is kept in status: as is, or past KEY_LIMIT characters as a digest."""
    return key if len(key) <= KEY_LIMIT else "#" + hashlib.sha256(key.encode()).hexdigest()[:24]


# -- baselines ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MetricBaseline:
    """A metric's baseline as the gates read it: each kept series by `stored_key` and, when a cap
    left series out, how many (`left_out`) and the smallest of their values (`others`)."""

    series: Mapping[str, float] = field(default_factory=dict)
    others: float | None = None
    left_out: int = 0

    @property
    def empty(self) -> bool:
        return not self.series and self.others is None


def baseline_of(series: Series, volume: Series | None = None, min_volume: float | None = None) -> dict[str, float]:
    """What a baseline measurement gives: each finite series by its key, no data no entry; with a
    traffic minimum, only the series whose traffic over the baseline window met it (a quiet-hour
    baseline must not make a 10x regression look normal)."""
    traffic = _traffic(series, volume) if min_volume is not None else None
    return {stored_key(series_key(labels)): value for labels, value in series if math.isfinite(value)
            and (traffic is None or (traffic(labels) or 0.0) >= min_volume)}  # type: ignore[operator]


def worse_baseline(one: Mapping[str, float], other: Mapping[str, float]) -> dict[str, float]:
    """Per series the larger of two baselines (now and a week ago): gating on the worse of the two."""
    return {key: max(one.get(key, -math.inf), other.get(key, -math.inf)) for key in {*one, *other}}


def capped(baseline: Mapping[str, float], cap: int) -> tuple[dict[str, float], dict[str, Any] | None]:
    """At most `cap` series, the smallest values, and what was left out: {series: count, min: value}.

    A series left out is compared with the smallest value left out, which is no larger than its
    own: never a looser bound. Keeping the smallest keeps zero baselines, whose rule (any increase
    fails) is the strictest, exact."""
    ranked = sorted(baseline.items(), key=lambda item: (item[1], item[0]))
    kept, rest = dict(ranked[:cap]), [value for _, value in ranked[cap:]]
    return kept, ({"series": len(rest), "min": min(rest)} if rest else None)


def stored_baseline(stored: Any, overflow: Any = None) -> MetricBaseline:
    """A metric's baseline as read back from the plan's status, which a person may have edited:
    {series key: value}; a bare number is the whole metric's; anything not a number is ignored.
    `overflow` is what `capped` left out ({series, min})."""
    overflow = overflow if isinstance(overflow, Mapping) else {}
    others = overflow.get("min")
    others = float(others) if _is_number(others) else None
    left_out = int(overflow["series"]) if _is_number(overflow.get("series")) else 0
    if _is_number(stored):
        return MetricBaseline({series_key({}): float(stored)}, others, left_out)
    if not isinstance(stored, Mapping):
        return MetricBaseline({}, others, left_out)
    kept = {str(key): float(value) for key, value in stored.items() if _is_number(value)}
    return MetricBaseline(kept, others, left_out)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- traffic ------------------------------------------------------------------------------------

def _traffic(series: Series, volume: Series | None) -> Callable[[Labels], float | None]:
    """The traffic behind each series: its own volume series when the volume query has the same
    labels, else the sum of the volume query's finite series (None: no traffic figure at all)."""
    by_key = {series_key(labels): value for labels, value in volume or [] if math.isfinite(value)}
    if by_key and any(series_key(labels) in by_key for labels, _ in series):
        return lambda labels: by_key.get(series_key(labels))
    total = sum(by_key.values()) if by_key else None
    return lambda _labels: total


def with_traffic(metric: GateMetric, series: Series, volume: Series | None) -> Series:
    """The series a check judges by their value: every one without a traffic minimum, else those
    whose traffic met it (the others are Inconclusive, LowTraffic, whatever their value)."""
    if metric.min_volume is None:
        return list(series)
    traffic = _traffic(series, volume)
    return [(labels, value) for labels, value in series
            if (found := traffic(labels)) is not None and found >= metric.min_volume]


# -- metric checks: can this metric be judged at all? -------------------------------------------

MetricCheck = Callable[[GateMetric, Series, Series | None], tuple[Cause, str] | None]


def no_data(metric: GateMetric, series: Series, _volume: Series | None) -> tuple[Cause, str] | None:
    """An empty vector is what `rate()` gives before it has two samples, or once the service is gone:
    no data, not zero."""
    return ("NoData", f"{metric.name}: the query returned no data") if not series else None


def no_volume(metric: GateMetric, _series: Series, volume: Series | None) -> tuple[Cause, str] | None:
    """A metric with a traffic minimum needs a traffic figure at all."""
    if metric.min_volume is None or any(math.isfinite(value) for _, value in volume or []):
        return None
    return "NoData", f"{metric.name}: the volume query returned no data"


METRIC_CHECKS: tuple[MetricCheck, ...] = (no_data, no_volume)


# -- bound checks: one series against one bound -------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """One series against one bound. `phrase` completes "<series> = <value> ..."; `excess` is how
    far past the bound the value is, relative to it (negative when inside): it ranks series."""

    verdict: Verdict
    phrase: str
    bound: float | None = None
    excess: float = -math.inf
    cause: Cause = ""


BoundCheck = Callable[[GateMetric, float, MetricBaseline, str], Outcome | None]


def max_bound(metric: GateMetric, value: float, _baseline: MetricBaseline, _key: str) -> Outcome | None:
    return None if metric.max is None else _at_most(value, metric.max, f"max {metric.max:g}")


def min_bound(metric: GateMetric, value: float, _baseline: MetricBaseline, _key: str) -> Outcome | None:
    if metric.min is None:
        return None
    excess = _relative(metric.min - value, metric.min)
    if value < metric.min and not math.isclose(value, metric.min, rel_tol=ROUNDING):
        return Outcome("Fail", f"< min {metric.min:g}", metric.min, excess)
    return Outcome("Pass", f">= min {metric.min:g}", metric.min, excess)


def increase_over_baseline(metric: GateMetric, value: float, baseline: MetricBaseline, key: str) -> Outcome | None:
    increase = metric.max_increase_over_baseline
    if increase is None:
        return None
    if baseline.empty:
        return Outcome("Inconclusive", "has no baseline to compare with", cause="NoBaseline")
    own = baseline.series.get(stored_key(key), baseline.others)
    if own is None:
        if metric.max is not None:
            return None  # a new series is judged by the max alone
        return Outcome("Inconclusive", "is a series new since the baseline, and the metric sets no max to judge "
                                       "it by", cause="NewSeries")
    if own <= 0:
        outcome = _at_most(value, own, f"baseline {own:g}")
        why = " (no increase)" if outcome.verdict == "Pass" else f" (any increase over a baseline of {own:g} fails)"
        return replace(outcome, phrase=outcome.phrase + why)
    bound = own * (1 + increase)
    return _at_most(value, bound, f"baseline {own:.6g} +{increase * 100:g}% ({bound:.6g})")


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


def _upper_bounded(metric: GateMetric) -> bool:
    return metric.max is not None or metric.max_increase_over_baseline is not None


def _not_finite(metric: GateMetric, value: float) -> Outcome | None:
    """+Inf past an upper bound and -Inf past a min are certainly bad; NaN, or an infinity with no
    bound on its side, says nothing."""
    if math.isfinite(value):
        return None
    if value == math.inf and _upper_bounded(metric):
        return Outcome("Fail", "is infinitely above its upper bound (every request failing gives x/0)",
                       excess=math.inf)
    if value == -math.inf and metric.min is not None:
        return Outcome("Fail", f"< min {metric.min:g}", metric.min, math.inf)
    return Outcome("Inconclusive", "is not a finite number", cause="NotFinite")


# -- verdicts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SeriesResult:
    """One series' verdict, and how far past its bound it is, to find the worst series."""

    result: MetricResult
    excess: float

    @property
    def rank(self) -> tuple[int, float]:
        return SEVERITY[self.result.verdict], self.excess


def judge(metric: GateMetric, series: Series, volume: Series | None,
          baseline: MetricBaseline | Mapping[str, float] | None = None) -> MetricResult:
    """The verdict of one metric at one check: its worst series, Fail if any series fails."""
    if not isinstance(baseline, MetricBaseline):
        baseline = MetricBaseline(dict(baseline or {}))
    found = next((r for check in METRIC_CHECKS if (r := check(metric, series, volume))), None)
    if found:
        cause, reason = found
        return MetricResult(metric.name, "Inconclusive", reason, query=metric.query, cause=cause)
    traffic = _traffic(series, volume)
    judged = [judge_series(metric, labels, value, baseline, traffic(labels)) for labels, value in series]
    judged += _vanished(metric, series, baseline)
    worst = max(judged, key=lambda s: s.rank).result
    failing = sum(s.result.verdict == "Fail" for s in judged)
    if failing > 1:
        return replace(worst, message=f"{worst.message} ({failing} of {len(judged)} series fail)")
    return worst


def judge_series(metric: GateMetric, labels: Labels, value: float, baseline: MetricBaseline,
                 traffic: float | None = None) -> SeriesResult:
    """One series against every bound the metric sets: Fail on any, Inconclusive if any cannot be judged."""
    key = series_key(labels)
    name = metric.name + key
    if metric.min_volume is not None and (traffic is None or traffic < metric.min_volume):
        shown = "no traffic figure" if traffic is None else f"traffic {traffic:.6g}"
        outcomes = [Outcome("Inconclusive", f"has {shown}, below the minimum {metric.min_volume:g}",
                            cause="LowTraffic")]
    elif (odd := _not_finite(metric, value)) is not None:
        outcomes = [odd]
    else:
        outcomes = [o for check in BOUND_CHECKS if (o := check(metric, value, baseline, key)) is not None] or \
            [Outcome("Inconclusive", "has no bound to judge by", cause="NoBound")]
    worst = max(outcomes, key=lambda o: (SEVERITY[o.verdict], o.excess))
    phrase = " and ".join(o.phrase for o in outcomes) if worst.verdict == "Pass" else worst.phrase
    shown_value = value if math.isfinite(value) else None
    message = f"{name} = {value:.6g} {phrase}"
    return SeriesResult(MetricResult(metric.name, worst.verdict, message, shown_value, worst.bound, metric.query,
                                     worst.cause, key), worst.excess)


def _vanished(metric: GateMetric, series: Series, baseline: MetricBaseline) -> list[SeriesResult]:
    present = {stored_key(series_key(labels)) for labels, _ in series}
    gone = [(f"{metric.name}{key} had a baseline of {value:.6g} and returns no value now (the series vanished)", key)
            for key, value in sorted(baseline.series.items()) if key not in present]
    others_now = len(present - set(baseline.series))
    if others_now < baseline.left_out:
        gone.append((f"{metric.name}: {baseline.left_out - others_now} of the {baseline.left_out} series the baseline "
                     "did not keep one by one return no value now (series vanished)", ""))
    return [SeriesResult(MetricResult(metric.name, "Inconclusive", message, query=metric.query,
                                      cause="SeriesVanished", series=key), -math.inf) for message, key in gone]


def gate_verdict(results: list[MetricResult]) -> GateVerdict:
    """One check of all metrics: Fail if any fails, else Inconclusive if any is (or there are none)."""
    return GateVerdict.of(tuple(results))

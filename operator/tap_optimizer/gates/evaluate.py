"""Judging one gate metric, as pure functions: the series a query returned, the traffic behind
them and the stored baseline in; a verdict naming the worst series out.

Fail-safe by construction: no data, NaN, infinity, too little traffic or a missing baseline is
Inconclusive, never Pass. Each bound is a small named check returning why it fails, or None;
the reasons end up verbatim in the plan's status and Events.

Baselines: `maxIncreaseOverBaseline` compares a series with the baseline of the same series
(same labels), or the metric's overall baseline for a series that had none. A zero baseline
cannot bound a relative increase (any value is infinitely more), so that check is then
Inconclusive unless an absolute bound judges the series; Prometheus' empty answer is never
read as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tap_optimizer.plan.model import GateVerdict, MetricResult
from tap_optimizer.plan.spec import GateMetric

Labels = Mapping[str, str]
Series = list[tuple[Labels, float]]
OVERALL = "*"  # baseline key of the whole metric (the worst of its series)


def series_key(labels: Labels) -> str:
    """A stable name for a series: `{tenant="t1"}`, `{}` without labels."""
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return "{" + inner + "}"


def baseline_of(series: Series) -> dict[str, float]:
    """What to store as a metric's baseline: each finite series, and the worst as OVERALL."""
    values = {series_key(labels): value for labels, value in series if math.isfinite(value)}
    return {**values, OVERALL: max(values.values())} if values else {}


@dataclass(frozen=True)
class Judged:
    """One series against one bound: a failure reason or an inconclusive reason, and the bound."""

    failure: str | None = None
    unknown: str | None = None
    bound: float | None = None


Check = Callable[[GateMetric, str, float, Mapping[str, float]], Judged | None]


def _absolute_max(metric: GateMetric, name: str, value: float, _: Mapping[str, float]) -> Judged | None:
    if metric.max is None:
        return None
    return Judged(failure=f"{name} = {value:.6g} > max {metric.max:g}" if value > metric.max else None,
                  bound=metric.max)


def _absolute_min(metric: GateMetric, name: str, value: float, _: Mapping[str, float]) -> Judged | None:
    if metric.min is None:
        return None
    return Judged(failure=f"{name} = {value:.6g} < min {metric.min:g}" if value < metric.min else None,
                  bound=metric.min)


def _relative(metric: GateMetric, name: str, value: float, baseline: Mapping[str, float]) -> Judged | None:
    increase = metric.max_increase_over_baseline
    if increase is None:
        return None
    base = baseline.get(name.removeprefix(metric.name), baseline.get(OVERALL))
    if base is None:
        return Judged(unknown=f"{name}: no baseline to compare with")
    if base <= 0:
        return Judged(unknown=f"{name}: baseline is {base:g}, a relative increase cannot be judged")
    bound = base * (1 + increase)
    failure = (f"{name} = {value:.6g} > baseline {base:.6g} +{increase:.0%} ({bound:.6g})" if value > bound
               else None)
    return Judged(failure=failure, bound=bound)


CHECKS: tuple[Check, ...] = (_absolute_max, _absolute_min, _relative)


def judge(metric: GateMetric, series: Series, volume: Series | None, baseline: Mapping[str, float]) -> MetricResult:
    """The verdict of one metric at one check: Fail if any series fails any bound."""
    problem = _no_data(metric, series) or _too_little_traffic(metric, volume)
    if problem:
        return MetricResult(metric.name, "Inconclusive", problem, query=metric.query)
    results = [_judge_series(metric, labels, value, baseline) for labels, value in series]
    failed = [r for r in results if r.verdict == "Fail"]
    unknown = [r for r in results if r.verdict == "Inconclusive"]
    if failed:
        return max(failed, key=_excess)
    if unknown:
        return unknown[0]
    return max(results, key=lambda r: r.value if r.value is not None else -math.inf)


def _excess(result: MetricResult) -> float:
    """How far past its bound a failing series is, relative to the bound, to name the worst."""
    if result.value is None or result.bound in (None, 0):
        return math.inf
    return abs(result.value - result.bound) / abs(result.bound)


def _no_data(metric: GateMetric, series: Series) -> str | None:
    if not series:
        return f"{metric.name}: the query returned no data"
    bad = [series_key(labels) for labels, value in series if not math.isfinite(value)]
    return f"{metric.name}{bad[0]}: the value is not a finite number" if bad else None


def _too_little_traffic(metric: GateMetric, volume: Series | None) -> str | None:
    if metric.min_volume is None:
        return None
    total = sum(value for _, value in volume or [] if math.isfinite(value))
    if not volume or total < metric.min_volume:
        return f"{metric.name}: traffic {total:.6g} is below the minimum {metric.min_volume:g}"
    return None


def _judge_series(metric: GateMetric, labels: Labels, value: float, baseline: Mapping[str, float]) -> MetricResult:
    name = metric.name + series_key(labels)
    judged = [j for check in CHECKS if (j := check(metric, name, value, baseline)) is not None]
    failure = next((j for j in judged if j.failure), None)
    if failure:
        return MetricResult(metric.name, "Fail", failure.failure or "", value, failure.bound, metric.query)
    judging = [j for j in judged if j.unknown is None]
    if not judging:
        reason = next((j.unknown for j in judged if j.unknown), f"{name}: no bound to judge by")
        return MetricResult(metric.name, "Inconclusive", reason or "", value, None, metric.query)
    bound = judging[-1].bound
    return MetricResult(metric.name, "Pass", f"{name} = {value:.6g} within bounds", value, bound, metric.query)


def verdict(results: list[MetricResult]) -> GateVerdict:
    return GateVerdict.of(tuple(results))

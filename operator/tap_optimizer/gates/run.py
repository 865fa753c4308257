"""One gate check, one baseline, one preflight: every metric measured concurrently through a
provider, then judged by `evaluate`. No I/O of its own and no exception escapes: a provider's
failure, or any error while measuring, is an Inconclusive result with its cause."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from tap_optimizer.gates import evaluate
from tap_optimizer.gates.provider import Answer, GateProvider, Measurement
from tap_optimizer.plan.model import Baseline, GateVerdict, MetricResult, Preflight
from tap_optimizer.plan.spec import GateMetric, Gates


def read_baselines(stored: Mapping[str, Any] | None,
                   overflow: Mapping[str, Any] | None = None) -> dict[str, evaluate.MetricBaseline]:
    """The plan status' `baseline` (and `baselineOverflow`) as the gates read them."""
    stored, overflow = stored or {}, overflow or {}
    return {name: evaluate.stored_baseline(stored.get(name), overflow.get(name)) for name in {*stored, *overflow}}


async def check(provider: GateProvider, gates: Gates, baselines: Mapping[str, evaluate.MetricBaseline],
                at: float) -> GateVerdict:
    """Every metric at `at`: Fail if any fails, Inconclusive if any cannot be judged."""
    measured = await _measure_all(provider, gates.metrics, at)
    return evaluate.gate_verdict([
        judge(metric, measurement, baselines.get(metric.name, evaluate.MetricBaseline()))
        for metric, measurement in zip(gates.metrics, measured, strict=True)])


def judge(metric: GateMetric, measurement: Measurement, baseline: evaluate.MetricBaseline) -> MetricResult:
    """One metric's measurement judged: a failed answer is Inconclusive with its cause, else
    `evaluate.judge`. The live check and the replay of history (`backtest`) both judge here."""
    failed = measurement.error
    if failed is not None:
        what = "volume query: " if failed is measurement.volume else ""
        return MetricResult(metric.name, "Inconclusive", f"{metric.name}: {what}{failed.error}", query=metric.query,
                            cause=failed.cause)
    volume = measurement.volume.series if measurement.volume is not None else None
    return evaluate.judge(metric, measurement.series.series, volume, baseline)


async def _measure_all(provider: GateProvider, metrics: tuple[GateMetric, ...], at: float) -> list[Measurement]:
    return list(await asyncio.gather(*(_measure(provider, m, at) for m in metrics)))


async def _measure(provider: GateProvider, metric: GateMetric, at: float) -> Measurement:
    try:
        return await provider.measure(metric, at)
    except Exception as error:
        return Measurement(Answer.failed(f"measuring failed: {error!r}", "Unreachable"))


async def baseline(provider: GateProvider, gates: Gates, at: float) -> Baseline:
    """Each metric over the baseline window ending at `at` (and a week earlier: per series the worse)."""
    found = await asyncio.gather(*(_metric_baseline(provider, gates, m, at) for m in gates.metrics))
    out = Baseline()
    for metric, (values, reason) in zip(gates.metrics, found, strict=True):
        if values:
            out.values[metric.name] = values
        else:
            out.missing[metric.name] = reason
    return out


async def _metric_baseline(provider: GateProvider, gates: Gates, metric: GateMetric,
                           at: float) -> tuple[dict[str, float], str]:
    try:
        periods = await provider.measure_baseline(metric, gates.baseline_window, at, gates.compare_with_last_week)
    except Exception as error:
        return {}, f"measuring failed: {error!r}"
    return baseline_of_periods(metric, periods)


def baseline_of_periods(metric: GateMetric, periods: list[Measurement]) -> tuple[dict[str, float], str]:
    """A metric's baseline from its measured periods (now, and a week ago): per series the worse;
    or why there is none. The live baseline and the replay's (`backtest`) are both taken here."""
    worst: dict[str, float] = {}
    reasons = []
    for period in periods:
        if (failed := period.error) is not None:
            reasons.append(failed.error)
            continue
        volume = period.volume.series if period.volume is not None else None
        values = evaluate.baseline_of(period.series.series, volume, metric.min_volume)
        if not values:
            reasons.append("no data" if not period.series.series else
                           f"no series had the minimum traffic of {metric.min_volume:g} over the baseline window"
                           if metric.min_volume is not None else "no finite value")
        worst = evaluate.worse_baseline(worst, values)
    return worst, "; ".join(reasons) or "no data"


async def preflight(provider: GateProvider, gates: Gates, at: float) -> Preflight:
    """Ask every query once; an empty answer is an answer, a partial one is not."""
    measured = await _measure_all(provider, gates.metrics, at)
    rejected: list[str] = []
    unanswered: list[str] = []
    for metric, measurement in zip(gates.metrics, measured, strict=True):
        for what, answer in (("query", measurement.series), ("volumeQuery", measurement.volume)):
            if answer is None or not answer.error:
                continue
            line = f"spec.gates.metrics[{metric.name}].{what}: {answer.error}"
            (rejected if answer.cause == "QueryRejected" else unanswered).append(line)
    return Preflight(tuple(rejected), tuple(unanswered))

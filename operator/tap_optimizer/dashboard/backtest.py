"""The backtest panel's rows, read from a report of `tap-optimizer backtest --out` (gates/backtest.py):
each gate metric's value over its bound at every replayed check, the checks that could not be
judged, and the moments a simulated plan would have rolled back. No I/O, no Plotly.

Values are drawn as value / bound, so metrics of different units share one axis and the bound is
the line at 1 (for a `min` bound, below 1 fails). A relative bound's value is its absolute
threshold at that check (the baseline times one plus the allowed increase).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.dashboard.data import plotly_time
from tap_optimizer.gates.backtest import unjudged_reason


@dataclass(frozen=True)
class MetricLine:
    """One metric (its worst series at each check): times, value / bound (None: not judged)."""

    name: str
    times: list[str] = field(default_factory=list)
    ratios: list[float | None] = field(default_factory=list)
    hover: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Failure:
    """A moment simulated plans would have rolled back, with the gates' message."""

    time: str
    ratio: float | None
    message: str
    starts: int


@dataclass(frozen=True)
class BacktestView:
    title: str
    lines: list[MetricLine]
    inconclusive: list[tuple[str, str]]  # time, cause(s)
    failures: list[Failure]


def ratio(value: Any, bound: Any) -> float | None:
    """value / bound, or None when either is missing or the bound is 0."""
    if not isinstance(value, int | float) or not isinstance(bound, int | float) or bound == 0:
        return None
    return float(value) / float(bound)


def backtest_view(report: Mapping[str, Any]) -> BacktestView:
    """The panel's rows from one backtest report (see the module docstring)."""
    lines: dict[str, MetricLine] = {}
    inconclusive = []
    for row in report.get("timeline") or []:
        time = plotly_time(row["at"])
        causes = sorted({m.get("cause") or "" for m in row.get("metrics") or []
                         if m.get("verdict") == "Inconclusive"} - {""})
        if row.get("verdict") == "Inconclusive":
            inconclusive.append((time, ", ".join(causes) or "Inconclusive"))
        for metric in row.get("metrics") or []:
            line = lines.setdefault(metric["name"], MetricLine(metric["name"]))
            line.times.append(time)
            line.ratios.append(ratio(metric.get("value"), metric.get("bound")))
            line.hover.append(f"{metric['name']}{metric.get('series') or ''} {metric.get('verdict')}: "
                              f"{metric.get('value')} (bound {metric.get('bound')})")
    failures = [Failure(plotly_time(f["at"]), ratio(f.get("value"), f.get("bound")),
                        f.get("message") or f.get("verdict", ""), int(f.get("starts", 0)))
                for f in report.get("failures") or []]
    return BacktestView(_title(report), list(lines.values()), inconclusive, failures)


def _title(report: Mapping[str, Any]) -> str:
    rate, (low, high) = report.get("falseRollbackRate"), report.get("interval95") or (0.0, 1.0)
    covered = f"{report.get('coveredDays', 0):g} of {report.get('askedDays', 0):g} days replayed"
    if rate is None:
        return f"Backtest: {covered}; no start could be judged: {unjudged_reason(report)}"
    return (f"Backtest: {covered}; a harmless change would have been rolled back in {rate:.1%} of "
            f"{(report.get('outcomes') or {}).get('judged', 0)} simulated starts (95 % interval {low:.1%} "
            f"to {high:.1%}, {report.get('independentWindows', 0)} independent windows)")


def backtest_views(reports: Sequence[Mapping[str, Any]]) -> list[BacktestView]:
    return [backtest_view(report) for report in reports]

"""The rows the panels plot, read from plan statuses and the analysis document.

Kept apart from the figures so the numbers a panel shows are tested without Plotly, and so the
status fields the state machine writes (plan/machine.py) are read in one place. Every reader
tolerates missing fields: a plan's status is whatever the operator has written so far.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from tap_optimizer.analysis.document import PHASES, RealizedSavings, UtilizationSeries
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.status import MetricDetail

# A phase's span ends at the first of these it has (a rolled-back phase may have succeeded first).
END_FIELDS = ("rolledBackAt", "succeededAt", "observeUntil", "appliedAt", "patchedAt")


def plotly_time(text: str) -> str:
    """An RFC 3339 timestamp as the naive UTC string Plotly.js parses (it ignores zones; axes say UTC)."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.isoformat(sep=" ")


def _millis(start: str, end: str) -> float:
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds() * 1000


def plan_name(plan: Mapping[str, Any]) -> str:
    """namespace/name, as `kubectl` and the operator's lock annotation name a plan."""
    metadata = plan.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '?')}".lstrip("/")


@dataclass(frozen=True)
class Segment:
    """One phase's span on the timeline: started, applied (live) and ended, in Plotly time."""

    phase: str
    state: str
    start: str
    applied: str | None
    end: str

    @property
    def duration_ms(self) -> float:
        return _millis(self.start, self.end)


def phase_segments(status: Mapping[str, Any]) -> list[Segment]:
    """The phases that have started, in plan order."""
    segments = []
    for record in plan_status.phases(status):
        if "startedAt" not in record:
            continue
        fields: Mapping[str, Any] = record
        end = next((fields[key] for key in END_FIELDS if key in fields), record["startedAt"])
        applied = plotly_time(record["appliedAt"]) if "appliedAt" in record else None
        segments.append(Segment(record["name"], record.get("state", "?"), plotly_time(record["startedAt"]),
                                applied, plotly_time(end)))
    return segments


@dataclass(frozen=True)
class MetricCheck:
    """One gate metric at one check: its worst series' value and the bound it was held to."""

    name: str
    verdict: str
    value: float | None
    bound: float | None
    query: str
    message: str


@dataclass(frozen=True)
class Check:
    """One gate check of one phase, as kept in the phase's `gates` history."""

    phase: str
    time: str
    verdict: str
    metrics: tuple[MetricCheck, ...]


def gate_checks(status: Mapping[str, Any]) -> list[Check]:
    """Every gate check in the status, oldest first: the compact record of each check (`checks`:
    time, verdict, worst series, value, bound), in full where the last few are kept in detail
    (`gates`); queries come from `gateQueries`."""
    queries = status.get("gateQueries") or {}
    checks = []
    for record in plan_status.phases(status):
        detailed = {entry["time"]: entry for entry in record.get("gates") or []}
        for entry in record.get("checks") or []:
            if entry[0] not in detailed:
                checks.append(_compact_check(record["name"], entry, queries))
        checks += [Check(record["name"], plotly_time(entry["time"]), entry.get("verdict", "?"), tuple(
            MetricCheck(m.get("name", "?"), m.get("verdict", "?"), m.get("value"), m.get("bound"),
                        _query(m, queries), m.get("message", ""))
            for m in entry.get("metrics") or [])) for entry in detailed.values()]
    return sorted(checks, key=lambda check: check.time)


def _query(metric: MetricDetail, queries: Mapping[str, str]) -> str:
    """A metric's query: its own if the check kept one (the machine does not: see `evidence.detail`),
    else the plan's `gateQueries`."""
    own: Mapping[str, Any] = metric
    return cast(str, own.get("query") or queries.get(metric.get("name", ""), ""))


def _compact_check(phase: str, entry: list[Any], queries: Mapping[str, str]) -> Check:
    time, verdict, series, value, bound = (list(entry) + [None] * 5)[:5]
    name = (series or "?").split("{", 1)[0]
    shown = f"{series} = {value} (bound {bound})" if value is not None else str(series or "")
    return Check(phase, plotly_time(time), verdict or "?",
                 (MetricCheck(name, verdict or "?", value, bound, queries.get(name, ""), shown),))


def checks_dropped(status: Mapping[str, Any]) -> int:
    """How many of the oldest checks the status no longer keeps (see plan.evidence)."""
    return sum(int(record.get("checksDropped") or 0) for record in plan_status.phases(status))


def _by_phase(rows: Iterable[tuple[str, float]]) -> dict[str, float]:
    """Sum amounts per phase, the platform's phases in their fixed order first."""
    totals: dict[str, float] = {}
    for phase, amount in rows:
        totals[phase] = round(totals.get(phase, 0.0) + amount, 2)
    order: dict[str, int] = {phase: index for index, phase in enumerate(PHASES)}
    return dict(sorted(totals.items(), key=lambda item: order.get(item[0], len(order))))


def change_savings(plan: Mapping[str, Any]) -> Iterator[tuple[str, float]]:
    """(phase, projected monthly savings) of every change in a plan's spec."""
    for phase in (plan.get("spec") or {}).get("phases") or []:
        for change in phase.get("changes") or []:
            yield phase["name"], change.get("projectedMonthlySavings", 0.0)


def projected_by_phase(analysis: Mapping[str, Any] | None, plans: Sequence[Mapping[str, Any]]) -> tuple[str, dict]:
    """Projected monthly savings per phase, and where they come from.

    The analysis' recommendations when there are any (they are what a plan is made from), else
    the changes of the plans given, so a page built from plans alone still shows a projection.
    """
    recommendations = (analysis or {}).get("recommendations") or []
    if recommendations:
        return "analysis", _by_phase((r["phase"], r["projectedMonthlySavings"]) for r in recommendations)
    return "plans", _by_phase(pair for plan in plans for pair in change_savings(plan))


def realized_by_phase(realized: Sequence[RealizedSavings]) -> dict[str, float]:
    """Measured monthly savings per phase, summed over plans."""
    return _by_phase((r["phase"], r["monthlySavings"]) for r in realized)


@dataclass(frozen=True)
class Grid:
    """One metric's utilization as resource rows by day columns; None where there is no datapoint."""

    metric: str
    unit: str
    rows: list[str]
    days: list[str]
    z: list[list[float | None]]


def utilization_grids(series: Sequence[UtilizationSeries]) -> list[Grid]:
    """One grid per metric (units differ between metrics, so they never share a colour scale)."""
    metrics: dict[tuple[str, str], list[UtilizationSeries]] = {}
    for one in series:
        metrics.setdefault((one["metric"], one["unit"]), []).append(one)
    grids = []
    for (metric, unit), members in metrics.items():
        days = sorted({day for one in members for day in one["days"]})
        values = [dict(zip(one["days"], one["values"], strict=True)) for one in members]
        grids.append(Grid(metric, unit, [f"{one['resource']} ({one['region']})" for one in members], days,
                          [[by_day.get(day) for day in days] for by_day in values]))
    return grids

"""What a plan's status keeps of its gates, within a hard size budget, and how observation time
is earned.

Evidence: each gate check speaks for the time since the check before it, at most one `interval`.
Only a passing check earns that time; an Inconclusive one earns nothing (the window is extended by
it), and time when nobody checked (the operator down, the plan paused) is never earned beyond one
interval. A phase passes once it has earned a whole `observationWindow` of conclusive passes.

Size: the API server refuses objects over about 1.5 MiB and a refused status write means no
rollback starts, so everything gate-related in status is bounded by construction, whatever the
CRD admits (20 metrics, 4 KiB queries, any number of series):
- each query once per metric (`gateQueries`), clipped to QUERY_LIMIT characters;
- the baseline per series up to BASELINE_SERIES (shared by the metrics), the rest as a count and
  the largest value (`baselineOverflow`);
- the recorded changes of all phases (paths, previous and planned values) at most
  MAX_RECORDED_BYTES: a phase that would exceed it fails before it patches;
- a compact record of every check of the phase being observed, `[time, verdict, worst series,
  value, bound]`, at most MAX_CHECK_RECORDS (the oldest dropped first, counted), and full detail
  (every metric) for the last DETAIL_CHECKS checks; messages clipped to MESSAGE_LIMIT.
The figures: tests/unit/plan/test_status_size.py builds the worst case; `make bench` prints it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from tap_optimizer.plan.model import GateVerdict, MetricResult

QUERY_LIMIT = 512
MESSAGE_LIMIT = 300
SERIES_LIMIT = 80
BASELINE_SERIES = 240  # series kept individually, over all metrics of a plan
BASELINE_KEY_LIMIT = 160  # a longer series key is not kept individually (it counts in the overflow)
MAX_CHECK_RECORDS = 500
DETAIL_CHECKS = 3
SUMMARY_LIMIT = 1024
MAX_RECORDED_BYTES = 64 * 1024  # every phase's recorded changes (path, before, after) together
CLOCK_SLACK = 1.0  # seconds a check may come late and still earn its whole interval


def clip(text: str, limit: int) -> str:
    """`text` at most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def credit(previous_check: dt.datetime, now: dt.datetime, interval: float) -> float:
    """Seconds of evidence a passing check at `now` earns: the time since the previous check (or
    since the phase went live), at most one interval (a little slack for a late timer)."""
    elapsed = max(0.0, (now - previous_check).total_seconds())
    return interval if elapsed >= interval - CLOCK_SLACK else elapsed


def new_evidence(required: float) -> dict[str, Any]:
    return {"requiredSeconds": required, "conclusiveSeconds": 0.0,
            "checks": {"Pass": 0, "Fail": 0, "Inconclusive": 0}}


def baseline_cap(metric_count: int) -> int:
    """Series kept individually per metric: the plan's budget shared evenly, at least one."""
    return max(1, BASELINE_SERIES // max(1, metric_count))


def worst(verdict: GateVerdict) -> MetricResult | None:
    """The metric result that decided the verdict: a failing one, else an inconclusive one, else the
    passing one closest to its bound (its message says so)."""
    ranked = [m for m in verdict.metrics if m.verdict == verdict.verdict]
    return ranked[0] if ranked else None


def compact(verdict: GateVerdict, timestamp: str) -> list[Any]:
    """One check in a few bytes: [time, verdict, worst metric and series, value, bound]."""
    found = worst(verdict)
    if found is None:
        return [timestamp, verdict.verdict, "", None, None]
    series = clip(found.name + (found.series or ""), SERIES_LIMIT)
    return [timestamp, verdict.verdict, series, found.value, found.bound]


def detail(verdict: GateVerdict, timestamp: str) -> dict[str, Any]:
    """One check with every metric's verdict, value, bound, cause and message (queries are kept
    once per metric in `gateQueries`)."""
    return {"time": timestamp, "verdict": verdict.verdict, "metrics": [
        {k: v for k, v in {"name": m.name, "verdict": m.verdict, "value": m.value, "bound": m.bound,
                           "cause": m.cause or None, "message": clip(m.message, MESSAGE_LIMIT)}.items()
         if v is not None}
        for m in verdict.metrics]}


def summary(verdict: GateVerdict) -> str:
    """The check's messages in one line, for the plan's message, conditions and Events."""
    return clip("; ".join(clip(m.message, MESSAGE_LIMIT) for m in verdict.metrics) or "no gate metric answered",
                SUMMARY_LIMIT)

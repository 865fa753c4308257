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
- the baseline per series up to BASELINE_SERIES (shared by the metrics; the smallest values, keys
  past 128 characters as digests), the rest as a count and their smallest value
  (`baselineOverflow`, see `gates.evaluate.capped`);
- the recorded changes of all phases (paths, previous and planned values) at most
  MAX_RECORDED_BYTES: a phase that would exceed it fails before it patches;
- a compact record of every check of the phase being observed, `[time, verdict, worst series,
  value, bound]`, at most MAX_CHECK_RECORDS (the oldest dropped first, counted in
  `checksDropped`), and full detail (every metric) for its last DETAIL_CHECKS checks; a phase that
  passed keeps its evidence, its non-passing checks and its last ones (FINISHED_CHECKS) and no
  detail; messages clipped to MESSAGE_LIMIT, one-way-door sentences to DOORS_LIMIT per phase.
The figures: tests/unit/plan/test_status_size.py builds the worst case; `make bench` prints it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import cast

from tap_optimizer.plan.model import GateVerdict, MetricResult
from tap_optimizer.plan.status import CompactCheck, Evidence, GateDetail, MetricDetail

QUERY_LIMIT = 256
MESSAGE_LIMIT = 160
SERIES_LIMIT = 48
BASELINE_SERIES = 200  # series kept individually, over all metrics of a plan
MAX_CHECK_RECORDS = 400  # of the phase being observed; the oldest go first
FINISHED_CHECKS = 8  # of a phase that passed: its non-passing checks first, then its last ones
DETAIL_CHECKS = 3
SUMMARY_LIMIT = 1024
DOORS_LIMIT = 512  # characters of one-way-door sentences kept per phase
MAX_RECORDED_BYTES = 48 * 1024  # every phase's recorded changes (path, before, after) together
SIGNIFICANT = 6  # digits of a value or bound in a compact check
CLOCK_SLACK = 1.0  # seconds a check may come late and still earn its whole interval


def clip(text: str, limit: int) -> str:
    """`text` at most `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def credit(previous_check: dt.datetime, now: dt.datetime, interval: float) -> float:
    """Seconds of evidence a passing check at `now` earns: the time since the previous check (or
    since the phase went live), at most one interval (a little slack for a late timer)."""
    return earned_seconds((now - previous_check).total_seconds(), interval)


def earned_seconds(elapsed: float, interval: float) -> float:
    """`credit` in seconds: a passing check `elapsed` seconds after the one before it earns that
    long, at most one interval. The live window (`observation`) and its replay (`gates.backtest`)
    both count evidence here."""
    elapsed = max(0.0, elapsed)
    return interval if elapsed >= interval - CLOCK_SLACK else elapsed


def window_earned(conclusive: float, required: float) -> bool:
    """Whether a phase has earned its whole observation window of conclusive passing checks."""
    return required - conclusive <= CLOCK_SLACK / 1000


def out_of_patience(inconclusive_in_a_row: int, limit: int) -> bool:
    """Whether `inconclusiveLimit` inconclusive checks in a row have been reached: the phase is then
    rolled back (onInconclusive: RollBack, the default) or paused."""
    return inconclusive_in_a_row >= limit


def new_evidence(required: float) -> Evidence:
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


def compact(verdict: GateVerdict, timestamp: str) -> CompactCheck:
    """One check in a few bytes: [time to the second, verdict, worst metric and series, value, bound]."""
    moment = timestamp.split(".", maxsplit=1)[0].rstrip("Z") + "Z"
    found = worst(verdict)
    if found is None:
        return [moment, verdict.verdict, "", None, None]
    series = clip(found.name + (found.series or ""), SERIES_LIMIT)
    return [moment, verdict.verdict, series, _significant(found.value), _significant(found.bound)]


def _significant(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.{SIGNIFICANT}g}")


def finished(checks: list[CompactCheck]) -> tuple[list[CompactCheck], int]:
    """What a phase that passed keeps of its compact checks, and how many it drops: the checks
    that did not pass, then the last ones, in time order, FINISHED_CHECKS at most."""
    ranked = sorted(range(len(checks)), key=lambda i: (checks[i][1] == "Pass", -i))[:FINISHED_CHECKS]
    return [checks[i] for i in sorted(ranked)], len(checks) - len(ranked)


def doors(sentences: list[str]) -> list[str]:
    """The one-way-door sentences of a phase, within DOORS_LIMIT characters, the rest counted."""
    kept: list[str] = []
    for index, sentence in enumerate(sentences):
        if sum(map(len, kept)) + len(sentence) > DOORS_LIMIT:
            return [*kept, f"and {len(sentences) - index} more"]
        kept.append(sentence)
    return kept


def detail(verdict: GateVerdict, timestamp: str) -> GateDetail:
    """One check with every metric's verdict, value, bound, cause and message (queries are kept
    once per metric in `gateQueries`)."""
    return {"time": timestamp, "verdict": verdict.verdict, "metrics": [_metric_detail(m) for m in verdict.metrics]}


def _metric_detail(metric: MetricResult) -> MetricDetail:
    """One metric of a detailed check, its None values left out."""
    shown = {"name": metric.name, "verdict": metric.verdict, "value": metric.value, "bound": metric.bound,
             "cause": metric.cause or None, "message": clip(metric.message, MESSAGE_LIMIT)}
    return cast(MetricDetail, {k: v for k, v in shown.items() if v is not None})


def summary(verdict: GateVerdict) -> str:
    """The check's messages in one line, for the plan's message, conditions and Events."""
    return clip("; ".join(clip(m.message, MESSAGE_LIMIT) for m in verdict.metrics) or "no gate metric answered",
                SUMMARY_LIMIT)


MAX_MONEY = 1e12  # USD a month: a sum of projected savings above it is shown as this bound


def money(amount: float) -> float:
    """A sum of USD for status: rounded to cents, finite and bounded (1e308 twice is inf, and a
    status holding inf cannot be written as JSON)."""
    return 0.0 if math.isnan(amount) else round(min(amount, MAX_MONEY), 2)

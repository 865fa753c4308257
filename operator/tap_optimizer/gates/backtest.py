"""What-if replay of a plan's gates over metric history (a backtest), as pure functions: the gate
queries' answers at every check step in, a report out. No I/O: `prometheus.fetch_history` asks
Prometheus (`query_range` at step = interval, which evaluates the same instant query at every step).

Judged with the live code, not a copy of it. Each check is `run.judge` (which is `evaluate.judge`)
per metric and `evaluate.gate_verdict` over them; each start's baseline is `run.baseline_of_periods`
capped as the state machine stores it (`capped`, `stored_baseline`); evidence is counted with
`plan.evidence` (a passing check earns at most one interval, an inconclusive one nothing, a phase
passes once it earned a whole window, `inconclusiveLimit` inconclusive checks in a row end it).

A/A: a plan started at `s` on ordinary days changes nothing, so any rollback is a false one. For
every start on a grid (every hour by default) the replay takes the baseline at `s`, checks at
`s + k * interval` and reports what the operator would have done: roll back on a Fail (`Fail`),
roll back after `inconclusiveLimit` inconclusive checks in a row with onInconclusive: RollBack
(`Inconclusive`), pass the window (`Pass`); or, not judged: paused after `inconclusiveLimit`
inconclusive checks with onInconclusive: Pause (`Paused`: no rollback, and no evidence of a harmless
window either, so out of the rate's denominator and counted apart), no baseline for a relative bound
(`NoBaseline`, the plan would wait), history ending before the window (`Unfinished`), or a
request for its history that got no answer now (`Unanswered`: today's timeout or outage says
nothing of what the live gates saw then, so its steps are not counted as inconclusive checks).

Coverage ends at the grid's end (`--end`): steps after a query's last data are judged (Inconclusive,
NoData) as a plan started now would be, and the report warns that the query returns nothing now.

Honest uncertainty: overlapping windows are not independent. The independent windows are the
judged starts whose windows do not overlap (taken greedily in time: at most one per window of the
span where starts were possible, at most the judged starts); the 95 % interval is Wilson's for the
observed rate on that many, never just "0 %". Per-check independence gives a second figure,
`1 - (1 - p)^K` for a per-check failure share p and K checks a window.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.gates import evaluate, run
from tap_optimizer.gates.provider import Answer, Measurement
from tap_optimizer.plan import evidence
from tap_optimizer.plan.model import BacktestSummary, Cause, GateVerdict, MetricResult
from tap_optimizer.plan.spec import BACKTEST_MAX_STEPS, GateMetric, Gates

MAX_POINTS = 11_000  # Prometheus refuses a query_range of more points per series
MAX_STEPS = BACKTEST_MAX_STEPS  # check steps per query a backtest asks at most (requests and memory)
HOUR = 3600.0
DAY = 86_400.0
Z95 = 1.959963984540054
REPORT_VERSION = "tap-optimizer.backtest/v1"


# -- the history ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Grid:
    """The check steps: `count` instants `start + i * step` (UNIX seconds)."""

    start: float
    step: float
    count: int

    @staticmethod
    def ending(end: float, seconds: float, step: float) -> Grid:
        """The steps aligned to multiples of `step` covering `seconds` up to `end`."""
        last = math.floor(end / step) * step
        count = int(seconds // step) + 1
        return Grid(last - (count - 1) * step, step, count)

    def time(self, index: int) -> float:
        return self.start + index * self.step

    def index(self, moment: float) -> int:
        return round((moment - self.start) / self.step)

    @property
    def end(self) -> float:
        return self.time(self.count - 1)


def chunks(grid: Grid, max_points: int = MAX_POINTS) -> list[tuple[int, int]]:
    """The grid as (first, last) step indices of query_range requests of at most `max_points` points."""
    size = max(1, max_points)
    return [(first, min(first + size, grid.count) - 1) for first in range(0, grid.count, size)]


Points = Sequence[tuple[float, float]]
Matrix = list[tuple[evaluate.Labels, Points]]


@dataclass(frozen=True)
class RangeAnswer:
    """One range query's series, or why there are none (the causes of `provider.Answer`)."""

    matrix: Matrix
    error: str = ""
    cause: Cause = ""

    @staticmethod
    def failed(error: str, cause: Cause) -> RangeAnswer:
        return RangeAnswer([], error, cause)


@dataclass
class QueryHistory:
    """One query's answers over the grid: each step's series, or why the step has no answer."""

    query: str
    steps: list[evaluate.Series]
    errors: dict[int, tuple[str, Cause]] = field(default_factory=dict)

    @staticmethod
    def empty(query: str, grid: Grid) -> QueryHistory:
        return QueryHistory(query, [[] for _ in range(grid.count)])

    def add(self, grid: Grid, matrix: Matrix) -> None:
        """The series of one query_range answer, placed on the grid's steps."""
        for labels, points in matrix:
            for moment, value in points:
                index = grid.index(moment)
                if 0 <= index < grid.count:
                    self.steps[index].append((labels, value))

    def fail(self, first: int, last: int, error: str, cause: Cause) -> None:
        """A request that got no answer: its steps are counted like a live check that got none."""
        for index in range(first, last + 1):
            self.errors[index] = (error, cause)

    def answer(self, index: int) -> Answer:
        if index in self.errors:
            return Answer.failed(*self.errors[index])
        return Answer(self.steps[index])

    def coverage(self, grid: Grid) -> tuple[int, int, int] | None:
        """(first, last, count) of the steps holding data; None when the query has no history."""
        held = [i for i, series in enumerate(self.steps) if series]
        return (held[0], held[-1], len(held)) if held else None


@dataclass
class MetricHistory:
    """A gate metric's queries over the grid: the metric, its traffic, and its baseline expression
    (`prometheus.average`) now and, with compareWithLastWeek, a week earlier, with their traffic."""

    query: QueryHistory
    volume: QueryHistory | None = None
    baselines: tuple[tuple[QueryHistory, QueryHistory | None], ...] = ()

    def measurement(self, index: int) -> Measurement:
        return Measurement(self.query.answer(index), self.volume.answer(index) if self.volume else None)

    def baseline_periods(self, index: int) -> list[Measurement]:
        return [Measurement(series.answer(index), volume.answer(index) if volume else None)
                for series, volume in self.baselines]


@dataclass
class History:
    """The queries over the grid: the asked days and, before them, the lead their starts' baselines
    look back over (`lead`; fetched when the server holds it)."""

    grid: Grid
    asked_days: float
    metrics: dict[str, MetricHistory]
    requests: int = 0

    @property
    def asked_first(self) -> int:
        """The first step of the asked days (0 when the grid holds no lead before them)."""
        return max(0, self.grid.count - 1 - int(self.asked_days * DAY // self.grid.step))


def lead(gates: Gates) -> float:
    """Seconds of history a start's baseline looks back over: the baseline window, and a week more
    with compareWithLastWeek."""
    return gates.baseline_window + (7 * DAY if gates.compare_with_last_week else 0.0)


# -- options ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Regression:
    """A harmful change injected into the replayed checks (never into the baseline): the metric's
    values times `factor`, plus `offset`. How soon would the gates have caught it?"""

    metric: str
    factor: float = 1.0
    offset: float = 0.0

    @property
    def label(self) -> str:
        parts = [f"x{self.factor:g}" if self.factor != 1 else "", f"{self.offset:+g}" if self.offset else ""]
        return f"{self.metric} {''.join(parts) or 'unchanged'}"

    def apply(self, series: evaluate.Series) -> evaluate.Series:
        return [(labels, value * self.factor + self.offset) for labels, value in series]


@dataclass(frozen=True)
class Options:
    start_every: float = HOUR  # seconds between simulated starts (a multiple of the interval)
    target_rate: float = 0.05  # the false-rollback rate the recommended bounds aim at
    regressions: tuple[Regression, ...] = ()


# -- one simulated start ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StartOutcome:
    start: float
    outcome: str  # Pass | Fail | Inconclusive | Paused | NoBaseline | Unfinished | Unanswered
    ended: float | None = None
    verdict: GateVerdict | None = None  # the check that decided (Fail or the last Inconclusive)
    checks: Mapping[str, int] = field(default_factory=dict)
    reason: str = ""

    @property
    def judged(self) -> bool:
        """In the false-rollback rate's denominator: the plan passed or rolled back."""
        return self.outcome in ("Pass", "Fail", "Inconclusive")

    @property
    def rolled_back(self) -> bool:
        return self.outcome in ("Fail", "Inconclusive")


class Replay:
    """The replay of one plan's gates over one history; `report()` runs it."""

    def __init__(self, gates: Gates, history: History, options: Options = Options()):
        self.gates, self.history, self.options = gates, history, options
        self.grid = history.grid
        self.window_checks = max(1, math.ceil(gates.observation_window / gates.interval - 1e-9))
        self._cache: dict[tuple[Any, ...], MetricResult] = {}
        self._baselines: dict[int, tuple[dict[str, evaluate.MetricBaseline], str]] = {}

    # baseline and checks, with the live code

    def baseline(self, index: int) -> tuple[dict[str, evaluate.MetricBaseline], str]:
        """Every metric's baseline at a start, as the state machine captures and stores it; and, when
        a relative bound has none, why (the plan would wait: BaselineUnavailable)."""
        if index in self._baselines:
            return self._baselines[index]
        cap = evidence.baseline_cap(len(self.gates.metrics))
        found: dict[str, evaluate.MetricBaseline] = {}
        missing = []
        for metric in self.gates.metrics:
            values, reason = run.baseline_of_periods(metric, self.history.metrics[metric.name].baseline_periods(index))
            if not values and metric.max_increase_over_baseline is not None:
                missing.append(f"{metric.name}: {reason}")
            kept, left = evaluate.capped(values, cap)
            found[metric.name] = evaluate.stored_baseline(kept, left)
        self._baselines[index] = found, "; ".join(missing)
        return found, "; ".join(missing)

    def check(self, index: int, baselines: Mapping[str, evaluate.MetricBaseline],
              regression: Regression | None = None) -> GateVerdict:
        """The gate check at one step: `run.judge` per metric, `evaluate.gate_verdict` over them."""
        results = []
        for metric in self.gates.metrics:
            baseline = baselines[metric.name]
            injected = regression is not None and regression.metric == metric.name
            key = (metric.name, index, _fingerprint(metric, baseline), regression if injected else None)
            result = self._cache.get(key)
            if result is None:
                measurement = self.history.metrics[metric.name].measurement(index)
                if injected and regression is not None and not measurement.series.error:
                    measurement = Measurement(Answer(regression.apply(measurement.series.series)), measurement.volume)
                result = self._cache[key] = run.judge(metric, measurement, baseline)
            results.append(result)
        return evaluate.gate_verdict(results)

    def simulate(self, index: int, regression: Regression | None = None) -> StartOutcome:
        """A plan whose phase goes live at step `index`: its window, judged check by check."""
        start = self.grid.time(index)
        baselines, missing = self.baseline(index)
        if error := self.unanswered(index, baseline=True) or missing:
            return StartOutcome(start, "NoBaseline" if error == missing else "Unanswered", reason=error)
        gates, earned, in_a_row, previous = self.gates, 0.0, 0, start
        counts: Counter[str] = Counter()
        verdict: GateVerdict | None = None
        for step in range(index + 1, self.grid.count):
            moment = self.grid.time(step)
            if error := self.unanswered(step):
                return StartOutcome(start, "Unanswered", moment, verdict, dict(counts), error)
            verdict = self.check(step, baselines, regression)
            counts[verdict.verdict] += 1
            if verdict.verdict == "Fail":
                return StartOutcome(start, "Fail", moment, verdict, dict(counts))
            if verdict.verdict == "Inconclusive":
                in_a_row += 1
                if evidence.out_of_patience(in_a_row, gates.inconclusive_limit):
                    back = gates.on_inconclusive == "RollBack"
                    return StartOutcome(start, "Inconclusive" if back else "Paused", moment, verdict, dict(counts),
                                        "rolled back" if back else "paused")
            else:
                in_a_row = 0
                earned += evidence.earned_seconds(moment - previous, gates.interval)
                if evidence.window_earned(earned, gates.observation_window):
                    return StartOutcome(start, "Pass", moment, verdict, dict(counts))
            previous = moment
        return StartOutcome(start, "Unfinished", None, verdict, dict(counts), "the history ends before the window")

    def unanswered(self, index: int, baseline: bool = False) -> str:
        """Why the history of a step (its checks' queries, or with `baseline` its baselines') got
        no answer now, or ""."""
        for history in self.history.metrics.values():
            queries = [q for period in history.baselines for q in period] if baseline else \
                [history.query, history.volume]
            found = next((q.errors[index][0] for q in queries if q is not None and index in q.errors), "")
            if found:
                return found
        return ""

    # the starts

    @property
    def every(self) -> float:
        """Seconds between simulated starts: `start_every` on the interval's grid (the command line
        refuses one that is not a multiple of the interval; the report says the value used)."""
        return max(self.grid.step, round(self.options.start_every / self.grid.step) * self.grid.step)

    def coverage(self) -> dict[str, Any]:
        """Per query, the span of the asked days its history covers. The plan is covered from the
        first step every metric and volume query has data at (baseline expressions start later by
        design; data in the lead before the asked days counts for the baselines only) to the grid's
        end: a query that stopped answering is judged (NoData) up to the end, with a warning."""
        per_query: dict[str, Any] = {}
        asked = self.history.asked_first
        firsts = []
        for name, history in self.history.metrics.items():
            for role, query in (("query", history.query), ("volumeQuery", history.volume)):
                if query is None:
                    continue
                found = query.coverage(self.grid)
                where = f"{name}.{role}"
                if found is None:
                    per_query[where] = {"query": query.query, "coveredDays": 0.0, "steps": 0,
                                        "errors": len(query.errors)}
                    firsts.append(self.grid.count)
                    continue
                first, last, held = found
                shown = min(max(first, asked), last)
                per_query[where] = {"query": query.query, "from": _iso(self.grid.time(shown)),
                                    "to": _iso(self.grid.time(last)),
                                    "coveredDays": round((last - shown) * self.grid.step / DAY, 3),
                                    "steps": held, "errors": len(query.errors)}
                firsts.append(first)
        first = max(firsts, default=0)
        last = self.grid.count - 1 if first < self.grid.count else -1
        warnings = [f"{where} ({found['query']}) returns nothing after {found.get('to', 'no step')}, up to the end "
                    f"{_iso(self.grid.end)}: a plan started now would be Inconclusive (NoData) on every check"
                    for where, found in per_query.items() if found.get("to") != _iso(self.grid.end)]
        warnings += [f"{name}: {len(query.errors)} steps of {query.query} got no answer now "
                     f"({next(iter(query.errors.values()))[0]}): the starts whose baseline or checks fall there are "
                     "not judged (Unanswered)"
                     for name, history in self.history.metrics.items()
                     for query in (history.query, history.volume, *(q for period in history.baselines for q in period))
                     if query is not None and query.errors]
        return {"first": first, "last": last, "queries": per_query, "warnings": warnings}

    def starts(self, first: int, last: int) -> list[int]:
        """Start steps of the asked days on the start grid whose baseline window lies in the covered
        history and whose nominal window ends within it."""
        grid = self.grid
        earliest, every = grid.time(first) + lead(self.gates), self.every
        return [index for index in range(max(first, self.history.asked_first), last - self.window_checks + 1)
                if grid.time(index) >= earliest and _aligned(grid.time(index), every)]

    def report(self, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
        covered = self.coverage()
        first, last = covered["first"], covered["last"]
        starts = self.starts(first, last) if last > first else []
        outcomes = []
        for number, index in enumerate(starts, start=1):
            outcomes.append(self.simulate(index))
            if progress is not None and (number % 200 == 0 or number == len(starts)):
                progress(number, len(starts))
        timeline = self.timeline(starts, first, last)
        first = min(max(first, self.history.asked_first), last) if last > first else first
        span = (last - first) * self.grid.step if last > first else 0.0
        return {
            "version": REPORT_VERSION,
            "askedDays": self.history.asked_days,
            "coveredDays": round(span / DAY, 3),
            "from": _iso(self.grid.time(first)) if last > first else None,
            "to": _iso(self.grid.time(last)) if last > first else None,
            "requests": self.history.requests,
            "gates": _gates_summary(self.gates, self.window_checks, self.every),
            "coverage": covered["queries"],
            "warnings": covered["warnings"],
            **self.rates(outcomes),
            "byStartHour": _by_hour(outcomes),
            "failures": _failures(outcomes),
            "metrics": self.noise(timeline, outcomes, starts),
            "timeline": _timeline_json(timeline, self.grid),
            "regressions": [self.detection(regression, starts) for regression in self.options.regressions],
            "starts": [_start_json(o) for o in outcomes],
        }

    # figures

    def rates(self, outcomes: list[StartOutcome]) -> dict[str, Any]:
        judged = [o for o in outcomes if o.judged]
        rolled = [o for o in judged if o.rolled_back]
        rate = len(rolled) / len(judged) if judged else None
        independent = independent_windows(judged, self.gates.observation_window)
        low, high = wilson(rate, independent) if rate is not None else (0.0, 1.0)
        by = Counter(o.outcome for o in outcomes)
        checks = Counter[str]()
        for outcome in judged:
            checks.update(outcome.checks)
        per_check = checks["Fail"] / sum(checks.values()) if sum(checks.values()) else 0.0
        return {
            "outcomes": {"simulated": len(outcomes), "judged": len(judged), **{k: by.get(k, 0) for k in
                                                                            ("Pass", "Fail", "Inconclusive",
                                                                             "Paused", "NoBaseline",
                                                                             "Unfinished", "Unanswered")}},
            "falseRollbackRate": rate,
            "falseRollbacks": len(rolled),
            "independentWindows": independent,
            "interval95": [round(low, 4), round(high, 4)],
            "perCheckFailShare": per_check,
            "ifChecksWereIndependent": 1 - (1 - per_check) ** self.window_checks,
        }

    def timeline(self, starts: list[int], first: int, last: int) -> list[tuple[int, GateVerdict]]:
        """Every covered step after the first start, judged as the plan started most recently before
        it would judge it: what the gates said over time."""
        judged = [index for index in starts if not self.baseline(index)[1]]
        if not judged:
            return []
        found, current = [], 0
        for step in range(judged[0] + 1, last + 1):
            while current + 1 < len(judged) and judged[current + 1] < step:
                current += 1
            found.append((step, self.check(step, self.baseline(judged[current])[0])))
        return found

    def noise(self, timeline: list[tuple[int, GateVerdict]], outcomes: list[StartOutcome],
              starts: list[int]) -> list[dict[str, Any]]:
        out = []
        for metric in self.gates.metrics:
            results = [r for _, verdict in timeline for r in verdict.metrics if r.name == metric.name]
            causes = Counter(r.cause or "Unknown" for r in results if r.verdict == "Inconclusive")
            ratios = [r.value / r.bound for r in results if r.value is not None and r.bound]
            failed = Counter(_decisive(o.verdict, metric.name) for o in outcomes if o.outcome == "Fail")
            out.append({
                "name": metric.name,
                "checks": len(results),
                "verdicts": dict(Counter(r.verdict for r in results)),
                "inconclusiveShare": sum(causes.values()) / len(results) if results else None,
                "inconclusiveByCause": dict(causes),
                "valueOverBound": _quantiles(ratios),
                "failedStartsBySeries": {k: v for k, v in failed.items() if k},
                "recommended": self.recommend(metric, starts),
            })
        return out

    def recommend(self, metric: GateMetric, starts: list[int]) -> dict[str, Any]:
        """Bounds that the given share of windows (the target rate) would have crossed: quantiles
        over starts of each window's worst value (for `max`), lowest (for `min`) and worst ratio to
        the series' own baseline (for `maxIncreaseOverBaseline`), of the values the gates judge
        (`judged_values`: a series below minVolume is never judged by its value). One metric at a time: several
        metrics at the target each can add up."""
        alpha = self.options.target_rate
        highs, lows, ratios = [], [], []
        for index in starts:
            baselines, missing = self.baseline(index)
            if missing:
                continue
            values = [(labels, value) for step in range(index + 1, index + self.window_checks + 1)
                      for labels, value in self.judged_values(metric, step) if math.isfinite(value)]
            if not values:
                continue
            highs.append(max(v for _, v in values))
            lows.append(min(v for _, v in values))
            baseline = baselines[metric.name]
            own = [(value, baseline.series.get(evaluate.stored_key(evaluate.series_key(labels)), baseline.others))
                   for labels, value in values]
            relative = [value / base for value, base in own if base is not None and base > 0]
            if relative:
                ratios.append(max(relative))
        found: dict[str, Any] = {"targetRate": alpha, "windows": len(highs)}
        if metric.max is not None and highs:
            found["max"] = _upper_quantile(highs, 1 - alpha)
        if metric.min is not None and lows:
            found["min"] = _upper_quantile([-v for v in lows], 1 - alpha) * -1
        if metric.max_increase_over_baseline is not None and ratios:
            found["maxIncreaseOverBaseline"] = round(max(0.0, _upper_quantile(ratios, 1 - alpha) - 1), 6)
        return found

    def judged_values(self, metric: GateMetric, index: int) -> evaluate.Series:
        """The series a check at `index` judges by their value: none when an answer failed, and
        only those with the minimum traffic (a quiet hour's ratio is Inconclusive, never a Fail)."""
        measurement = self.history.metrics[metric.name].measurement(index)
        if measurement.error is not None:
            return []
        volume = measurement.volume.series if measurement.volume is not None else None
        return evaluate.with_traffic(metric, measurement.series.series, volume)

    def detection(self, regression: Regression, starts: list[int]) -> dict[str, Any]:
        """The regression injected at each start: how many windows would have caught it, and how soon."""
        delays, caught, judged = [], 0, 0
        for index in starts:
            outcome = self.simulate(index, regression)
            if not outcome.judged:
                continue
            judged += 1
            if outcome.outcome == "Fail" and outcome.ended is not None:
                caught += 1
                delays.append(outcome.ended - outcome.start)
        return {"regression": regression.label, "metric": regression.metric, "factor": regression.factor,
                "offset": regression.offset, "starts": judged, "caught": caught,
                "detectionRate": caught / judged if judged else None,
                "delaySeconds": _quantiles(delays, (0.5, 0.95, 1.0))}


def replay(gates: Gates, history: History, options: Options = Options(),
           progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """The backtest report of a plan's gates over `history` (see the module's docstring)."""
    return Replay(gates, history, options).report(progress)


# -- small pure helpers -----------------------------------------------------------------------------

def independent_windows(judged: Sequence[StartOutcome], window: float) -> int:
    """How many of the judged starts have windows that do not overlap, taken in time: a start
    counts when it begins once the last counted one's window (or its longer, extended run) ended."""
    count, free_from = 0, -math.inf
    for outcome in sorted(judged, key=lambda o: o.start):
        if outcome.start >= free_from - 1e-6:
            count += 1
            free_from = max(outcome.start + window, outcome.ended or 0.0)
    return count


def unanswered(history: History) -> str:
    """The first error when a metric or volume query got no answer for any step of its history (the
    replay would judge its metric on nothing), else ""."""
    queries = [q for m in history.metrics.values() for q in (m.query, m.volume) if q is not None]
    silent = [q for q in queries if q.errors and not any(q.steps)]
    return next(iter(silent[0].errors.values()))[0] if silent else ""


def rejected(history: History) -> list[str]:
    """The metric and volume queries Prometheus refused as queries (bad_data, execution), each with
    its answer: the live preflight fails a plan on them before any change, so there is nothing to replay."""
    found = []
    for name, metric in history.metrics.items():
        for role, query in (("query", metric.query), ("volumeQuery", metric.volume)):
            refusals = [error for error, cause in (query.errors.values() if query else ()) if cause == "QueryRejected"]
            if refusals:
                found.append(f"spec.gates.metrics[{name}].{role}: {refusals[0]}")
    return found


def unjudged_reason(report: Mapping[str, Any]) -> str:
    """Why no simulated start could be judged (the rate is None). Reads a report as written (the
    dashboard's may be an older or edited one)."""
    by, covered = report.get("outcomes") or {}, report.get("coveredDays") or 0
    window = (report.get("gates") or {}).get("observationWindow")
    if not covered:
        return "no history to replay"
    if by.get("Paused"):
        return (f"every start that got to the end of its window paused on inconclusive checks ({by['Paused']} "
                "paused; onInconclusive: Pause)")
    if by.get("Unanswered"):
        return f"Prometheus did not answer the history of {by['Unanswered']} starts (see the warnings)"
    if by.get("NoBaseline"):
        return f"no start had a baseline for its relative bound ({by['NoBaseline']} without one)"
    if isinstance(window, int | float) and covered * DAY < window:
        return (f"the {covered:g} days covered are shorter than one observationWindow ({window / HOUR:g} h): "
                "no whole window to judge")
    return "no start had a baseline and a whole window in the history"


def wilson(rate: float | None, n: int) -> tuple[float, float]:
    """Wilson's 95 % interval for an observed share `rate` of `n` independent trials."""
    if rate is None or n <= 0:
        return 0.0, 1.0
    z2 = Z95 * Z95
    centre = (rate + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(rate * (1 - rate) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _fingerprint(metric: GateMetric, baseline: evaluate.MetricBaseline) -> tuple[Any, ...]:
    """What of a baseline a check of this metric can depend on: every value for a relative bound;
    which series had one (a vanished series is Inconclusive) otherwise."""
    if metric.max_increase_over_baseline is None:
        return tuple(sorted(baseline.series)), baseline.left_out
    return tuple(sorted(baseline.series.items())), baseline.others, baseline.left_out


def _aligned(moment: float, every: float) -> bool:
    return abs(moment / every - round(moment / every)) < 1e-9


def _decisive(verdict: GateVerdict | None, metric: str) -> str:
    """The metric and series that failed a check, when it is `metric`."""
    found = evidence.worst(verdict) if verdict is not None else None
    return f"{found.name}{found.series}" if found is not None and found.name == metric else ""


def _upper_quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile (never interpolated below an observed value)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _quantiles(values: list[float], qs: tuple[float, ...] = (0.5, 0.95, 0.99, 1.0)) -> dict[str, float] | None:
    if not values:
        return None
    return {("max" if q == 1.0 else f"p{q * 100:g}"): round(_upper_quantile(values, q), 6) for q in qs}


def _iso(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat().replace("+00:00", "Z")


def _gates_summary(gates: Gates, checks: int, every: float) -> dict[str, Any]:
    return {"interval": gates.interval, "observationWindow": gates.observation_window,
            "checksPerWindow": checks, "baselineWindow": gates.baseline_window,
            "compareWithLastWeek": gates.compare_with_last_week, "inconclusiveLimit": gates.inconclusive_limit,
            "onInconclusive": gates.on_inconclusive, "startEvery": every,
            "metrics": [{k: v for k, v in {"name": m.name, "query": m.query, "max": m.max, "min": m.min,
                                          "maxIncreaseOverBaseline": m.max_increase_over_baseline,
                                          "volumeQuery": m.volume_query, "minVolume": m.min_volume}.items()
                         if v is not None} for m in gates.metrics]}


def _by_hour(outcomes: list[StartOutcome]) -> list[dict[str, Any]]:
    """The false-rollback rate by the UTC hour a plan would start: a diurnal trap shows here."""
    hours: dict[int, list[StartOutcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.judged:
            hours[dt.datetime.fromtimestamp(outcome.start, dt.UTC).hour].append(outcome)
    return [{"hour": hour, "starts": len(found), "rolledBack": sum(o.rolled_back for o in found),
             "rate": sum(o.rolled_back for o in found) / len(found)} for hour, found in sorted(hours.items())]


def _failures(outcomes: list[StartOutcome]) -> list[dict[str, Any]]:
    """The distinct moments a simulated plan would have rolled back, each with the starts it ended,
    the metric and series, and the message the gates would have given."""
    moments: dict[float, list[StartOutcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.rolled_back and outcome.ended is not None:
            moments[outcome.ended].append(outcome)
    found = []
    for moment, ended in sorted(moments.items()):
        verdict = ended[0].verdict
        worst = evidence.worst(verdict) if verdict is not None else None
        found.append({"at": _iso(moment), "verdict": ended[0].outcome, "starts": len(ended),
                      "metric": worst.name if worst else "", "series": worst.series if worst else "",
                      "value": worst.value if worst else None, "bound": worst.bound if worst else None,
                      "cause": worst.cause if worst else "", "message": worst.message if worst else "",
                      "check": evidence.summary(verdict) if verdict else ""})
    return found


def _timeline_json(timeline: list[tuple[int, GateVerdict]], grid: Grid) -> list[dict[str, Any]]:
    return [{"at": _iso(grid.time(step)), "verdict": verdict.verdict,
             "metrics": [{"name": r.name, "verdict": r.verdict, "value": r.value, "bound": r.bound,
                          "cause": r.cause, "series": r.series} for r in verdict.metrics]}
            for step, verdict in timeline]


def _start_json(outcome: StartOutcome) -> dict[str, Any]:
    worst = evidence.worst(outcome.verdict) if outcome.verdict is not None and outcome.rolled_back else None
    return {k: v for k, v in {"start": _iso(outcome.start), "outcome": outcome.outcome,
                              "ended": _iso(outcome.ended) if outcome.ended is not None else None,
                              "checks": dict(outcome.checks), "reason": outcome.reason or None,
                              "metric": worst.name if worst else None,
                              "series": worst.series if worst else None,
                              "message": worst.message if worst else None}.items() if v is not None}


def summary(report: Mapping[str, Any], history: History) -> BacktestSummary:
    """What a plan's status keeps of a backtest (small: the full report is the CLI's); or, when no
    request got an answer, why (the plan waits for Prometheus)."""
    error = unanswered(history)
    if error:
        return BacktestSummary(unanswered=evidence.clip(error, evidence.MESSAGE_LIMIT))
    record: dict[str, Any] = {key: report[key] for key in ("askedDays", "coveredDays", "falseRollbackRate",
                                                           "independentWindows", "interval95")}
    record["starts"] = report["outcomes"]["judged"]
    if report["falseRollbackRate"] is None:
        record["reason"] = unjudged_reason(report)
    series = Counter(f"{o['metric']}\0{o.get('series', '')}" for o in report["starts"] if o.get("metric"))
    if series:
        (key, count), = series.most_common(1)
        metric, series_key_ = key.split("\0")
        example = next(o for o in report["starts"] if o.get("metric") == metric and o.get("series", "") == series_key_)
        record["worst"] = {"metric": metric, "series": series_key_, "starts": count, "at": example["ended"],
                           "message": evidence.clip(example.get("message", ""), evidence.MESSAGE_LIMIT)}
    return BacktestSummary(record)

"""Measured load projected onto a candidate type, and the performance risk of the result.

Every projection works on the 60-day hourly profile (one value per hour, None where CloudWatch had
no datapoint), so a candidate is judged on its busiest hours, not on one percentile:
- projected_h = measured_h x factor, where the factor is what the candidate has less of
  (for CPU: current vCPUs x clock / candidate vCPUs x clock);
- the candidate fits when the projected p95 and the projected peak are both at or under the
  limit, 100 % minus the configured headroom (Compute Optimizer's CPU headroom is 20-30 %);
- its risk is a 0-4 score from the worst dimension's projected peak against that limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tap_optimizer.analysis.facts import InstanceFacts

Profile = Sequence[float | None]
# Performance risk, Compute Optimizer's scale: the upper bound of peak/limit for each score; above
# the last bound (the peak over the limit) the score is 4 and the option does not fit.
RISK_BOUNDS = (0.5, 0.7, 0.85, 1.0)
RISK_NAMES = ("very low", "low", "medium", "high", "very high")
# Compute Optimizer's least (30 hours of metrics): fewer hours say too little of the load's cycle to
# size on, whatever the window asked for (a resource created or restored a day ago).
MIN_HOURS = 30


@dataclass(frozen=True)
class Projected:
    """One dimension of load on a candidate: p95 and peak over the hours, and the limit, all in
    percent of the candidate's capacity (CPU, memory, connections, network bandwidth)."""

    dimension: str
    p95: float
    peak: float
    limit: float

    @property
    def ratio(self) -> float:
        """The projected peak as a share of the limit (above 1: does not fit)."""
        return self.peak / self.limit if self.limit > 0 else math.inf

    @property
    def fits(self) -> bool:
        return self.p95 <= self.limit and self.peak <= self.limit


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (0 < q <= 100) of `values` (not empty)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def measured(profile: Profile) -> list[float]:
    """The hours that have a datapoint."""
    return [v for v in profile if v is not None]


def too_few(what: str, *profiles: Profile) -> str | None:
    """Why a resource is kept when the fewest measured hours of `profiles` are under MIN_HOURS."""
    hours = min((len(measured(p)) for p in profiles), default=0)
    return f"Kept: {hours} hours of {what} measured, fewer than {MIN_HOURS}." if hours < MIN_HOURS else None


def project(dimension: str, profile: Profile, factor: float, limit: float, peaks: Profile = ()) -> Projected | None:
    """Each measured hour times `factor`; the peak also over `peaks`, each hour's Maximum where it
    was measured (a spike of a few minutes is under the hour's p95); None when the profile has no
    datapoint at all."""
    hours = [v * factor for v in measured(profile)]
    if not hours:
        return None
    return Projected(dimension, percentile(hours, 95), max(hours + [v * factor for v in measured(peaks)]), limit)


def of_hours(dimension: str, hours: Sequence[float], limit: float) -> Projected:
    """A dimension already projected hour by hour (a fleet's utilization at the size it would hold)."""
    return Projected(dimension, percentile(hours, 95), max(hours), limit)


def compute_power(facts: InstanceFacts) -> float:
    """vCPUs x sustained clock (GHz): CPU scales by vCPU, and by clock where the generation differs
    (a type without a published clock counts 1 GHz: compared only within its family)."""
    return facts.vcpus * (facts.clock_ghz or 1.0)


def cpu_factor(current: InstanceFacts, candidate: InstanceFacts) -> float:
    """What one candidate carries of one current instance's CPU percent."""
    return compute_power(current) / compute_power(candidate)


def risk(dimensions: Sequence[Projected]) -> int:
    """0 (very low) to 4 (very high, does not fit): the band of the worst peak/limit ratio."""
    worst = max((d.ratio for d in dimensions), default=0.0)
    return next((score for score, bound in enumerate(RISK_BOUNDS) if worst <= bound), len(RISK_BOUNDS))

"""Sizing options of one resource: ranked, each with its projected utilization and risk; the
cheapest within the configured risk is the one planned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis.projection import RISK_NAMES, Projected, risk

MAX_OPTIONS = 3


@dataclass(frozen=True)
class Option:
    """A candidate type for a resource. `monthly_cost` is USD per month of what the resource would
    run (for a fleet: the expected instance-hours); `details` are the option's own figures (a
    fleet's sizes and expected instance count)."""

    target: str
    monthly_cost: float
    dimensions: tuple[Projected, ...]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def risk(self) -> int:
        return risk(self.dimensions)

    @property
    def fits(self) -> bool:
        return all(d.fits for d in self.dimensions)

    def summary(self) -> str:
        """`db.r6g.4xlarge: CPU p95 78 %, peak 90 % (limit 75 %)` for reasons."""
        loads = ", ".join(f"{d.dimension} p95 {d.p95:.0f} %, peak {d.peak:.0f} %" for d in self.dimensions)
        limit = max((d.limit for d in self.dimensions), default=0.0)
        return f"{self.target}: {loads} (limit {limit:g} %), risk {self.risk} ({RISK_NAMES[self.risk]})"


def ranked(options: Sequence[Option]) -> list[Option]:
    """Up to three options: those that fit by cost, then the rest by risk."""
    return sorted(options, key=lambda o: (not o.fits, o.monthly_cost if o.fits else o.risk))[:MAX_OPTIONS]


def planned(options: Sequence[Option], max_risk: int) -> Option | None:
    """The cheapest option that fits and whose risk is at most `max_risk`."""
    allowed = [o for o in options if o.fits and o.risk <= max_risk]
    return min(allowed, key=lambda o: o.monthly_cost, default=None)


def record(option: Option, current_cost: float) -> dict[str, Any]:
    """The option as the analysis document keeps it (rounded for reading and committing)."""
    return {"target": option.target, "monthlyCost": round(option.monthly_cost, 2),
            "monthlySavings": round(current_cost - option.monthly_cost, 2),
            "riskScore": option.risk, "risk": RISK_NAMES[option.risk], "fits": option.fits,
            "projected": [{"dimension": d.dimension, "p95Percent": round(d.p95, 1), "peakPercent": round(d.peak, 1),
                           "limitPercent": d.limit} for d in option.dimensions],
            **option.details}

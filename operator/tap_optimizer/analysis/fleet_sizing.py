"""The fleet a target-tracking policy would hold, hour by hour, on a candidate instance type.

The group's CPU demand in an hour is what it measured times what it ran:
    demand_h = cpu_h / 100 x power(current) x instances_h       (vCPU-GHz)
On a candidate the policy holds the smallest fleet that keeps the average at its target:
    size_h = max(floor, ceil(demand_h / (power(candidate) x target / 100)))
and the candidate runs at demand_h / (size_h x power(candidate)) in that hour. The bounds:
    minSize = min_h size_h, desiredCapacity = the median size_h,
    maxSize = ceil(max_h size_h x (1 + headroom / 100))  (the observed peak fits with headroom)
The price is the expected instance-hours, mean_h size_h per hour, not minSize.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class HeldFleet:
    """Hourly sizes on one candidate (instances) and the bounds to set."""

    sizes: tuple[int, ...]
    min_size: int
    desired: int
    max_size: int

    @property
    def expected_instances(self) -> float:
        """Mean instances over the hours: what the fleet costs, per hour."""
        return statistics.fmean(self.sizes)


def demand(cpu_percent: Sequence[float], power: float, counts: Sequence[float]) -> list[float]:
    """The group's CPU demand per hour (vCPU-GHz) from its measured CPU percent and instances in service."""
    return [c / 100 * power * n for c, n in zip(cpu_percent, counts, strict=True)]


def held(demands: Sequence[float], power: float, target_percent: float, floor: int, headroom: float) -> HeldFleet:
    """The sizes a target-tracking policy at `target_percent` would hold for `demands` (not empty)."""
    per_instance = power * target_percent / 100
    sizes = tuple(max(floor, math.ceil(d / per_instance - 1e-9)) for d in demands)
    top = math.ceil(max(sizes) * (1 + headroom / 100) - 1e-9)
    return HeldFleet(sizes, min(sizes), round(statistics.median(sizes)), max(top, floor))


def utilization(demands: Sequence[float], sizes: Sequence[int], power: float) -> list[float]:
    """Percent CPU of each instance in each hour at the held sizes."""
    return [100 * d / (n * power) for d, n in zip(demands, sizes, strict=True)]

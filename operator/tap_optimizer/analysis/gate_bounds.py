"""The bounds `analyze` writes, chosen with the what-if replay of the gates on the user's history.

The preset (or `--gates`) bound is the user's service objective: how bad a change may make things
before it is rolled back. The replay (gates/backtest.py) shows what ordinary days reach: for each
metric, the bound that `TARGET_RATE` of harmless windows would have crossed. Where ordinary days
already cross the written bound, the plan would roll back harmless changes, so the bound is widened
to the replay's (and the analysis says so, naming the old and new bound and the rate); where they
stay within it, the bound is kept. A bound is never tightened: history says what is ordinary, not
what is acceptable. Without enough judged windows (`MIN_WINDOWS`), counted as the independent
ones (hourly starts' windows overlap: a day of 12 h windows is 24 starts but two windows' worth of
history), nothing is changed, and the analysis says why.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

TARGET_RATE = 0.05  # the false-rollback rate per metric the widened bounds aim at
MIN_WINDOWS = 10  # independent judged windows below which a quantile of window extremes says nothing
BOUNDS = ("max", "min", "maxIncreaseOverBaseline")


def tuned(gates: Mapping[str, Any], report: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The plan's spec.gates with each bound widened where the replay `report` shows ordinary
    history crossing it, and one sentence per metric saying what was chosen and why."""
    out = copy.deepcopy(dict(gates))
    replayed = {m["name"]: m.get("recommended") or {} for m in report.get("metrics") or []}
    days = f"{report.get('coveredDays', 0):g} days"
    independent = report.get("independentWindows") or 0
    notes = []
    for metric in out.get("metrics") or []:
        found = replayed.get(metric["name"], {})
        if found.get("windows", 0) < MIN_WINDOWS:
            notes.append(f"gate {metric['name']}: bounds kept; the replay of {days} judged {found.get('windows', 0)} "
                         f"windows, fewer than {MIN_WINDOWS}")
            continue
        if independent < MIN_WINDOWS:
            notes.append(f"gate {metric['name']}: bounds kept; the replay of {days} judged {found['windows']} "
                         f"overlapping windows, {independent} of them independent, fewer than {MIN_WINDOWS}")
            continue
        notes += [_widen(metric, bound, found[bound], days) for bound in BOUNDS
                  if metric.get(bound) is not None and bound in found]
    return out, notes


def _widen(metric: dict[str, Any], bound: str, replayed: float, days: str) -> str:
    """Widen one bound of `metric` (in place) to `replayed` when ordinary history crosses it."""
    current = metric[bound]
    looser = replayed < current if bound == "min" else replayed > current
    where = f"gate {metric['name']}: {bound} {current:g}"
    if not looser:
        return (f"{where} kept: the replay of {days} stays within it (at most {TARGET_RATE:.0%} of harmless "
                f"windows reach {replayed:g})")
    metric[bound] = replayed
    return (f"{where} -> {replayed:g}: the replay of {days} shows ordinary windows crossing {current:g} (more "
            f"than {TARGET_RATE:.0%} of harmless starts would roll back); widened to what {TARGET_RATE:.0%} of "
            "them cross")

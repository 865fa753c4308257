"""From a resource's sizing options to its outcome: the planned option's recommendation, or the
resource kept with the reason (no candidate, none fits within the configured risk, none cheaper)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tap_optimizer.analysis.document import Change, Phase, Risk
from tap_optimizer.analysis.options import Option, planned, ranked, record
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, recommend

# The document's coarse label of a 0-4 score (the risk matrix's axis); the score is kept beside it.
LABELS: tuple[Risk, ...] = ("low", "low", "medium", "high", "high")


@dataclass(frozen=True)
class SizedResource:
    """What a sizing rule judged: the resource, what it costs now (USD/month), its options."""

    rule: str
    phase: Phase
    resource: str
    region: str
    current: str
    current_cost: float
    options: Sequence[Option]
    evidence: dict[str, Any]


def outcome(ctx: Context, s: SizedResource, changes: Callable[[Option], list[Change]], measured: str) -> Outcome:
    """The cheapest option within `sizing.maxRisk` as a recommendation, or a finding saying why not.
    `measured` is the reason's first words (what the load was)."""
    max_risk = ctx.config.sizing.maxRisk
    shown = ranked(s.options)
    records = [record(o, s.current_cost) for o in shown]
    choice = planned(s.options, max_risk)
    if choice is None:
        best = f"; best: {shown[0].summary()}" if shown else ""
        return finding(s.rule, s.resource, s.region,
                       f"Kept: no option for {s.current} fits within risk {max_risk}{best}.", s.evidence,
                       options=records)
    savings = s.current_cost - choice.monthly_cost
    if savings <= 0:
        return finding(s.rule, s.resource, s.region, f"Kept: no option within risk {max_risk} costs less than now; "
                       f"cheapest: {choice.summary()}, {choice.monthly_cost:,.2f} USD/month.", s.evidence,
                       options=records)
    chosen = record(choice, s.current_cost)
    return recommend(s.rule, s.phase, s.resource, s.region, changes(choice),
                     f"{measured}: {s.current} -> {choice.summary()}.", s.evidence, LABELS[choice.risk], savings,
                     riskScore=choice.risk, options=[chosen, *(r for r in records if r != chosen)])

"""The analysis document's body from the rules' outcomes (rules/registry.py): recommendations and findings
apart, the exclusions, the heatmap rows."""

from __future__ import annotations

from tap_optimizer.analysis.document import Exclusion, Finding, Recommendation, UtilizationSeries
from tap_optimizer.analysis.queries import SERIES, Measure
from tap_optimizer.analysis.rules.common import Context, Outcome

UNITS = {"CPUUtilization": "Percent", "EngineCPUUtilization": "Percent"}


def split(found: list[Outcome]) -> tuple[list[Recommendation], list[Finding]]:
    recommendations = [o for o in found if "changes" in o]
    findings = [o for o in found if "changes" not in o]
    return recommendations, findings  # type: ignore[return-value]


def exclusions(ctx: Context) -> list[Exclusion]:
    return [{"resource": t.arn, "region": t.region, "tenantId": t.tenant,
             "reason": "Tagged TenantId: tenant resources are never changed."} for t in ctx.inventory.tenanted]


def utilization(ctx: Context, measures: list[Measure]) -> list[UtilizationSeries]:
    """One heatmap row per series measure, days as ISO dates."""
    days = [slot.date().isoformat() for slot in ctx.measurements.window.slots()]
    return [{"resource": m.subject, "region": m.region, "metric": f"{m.metric} {m.stat}",
             "unit": UNITS.get(m.metric, "Count"), "days": days,
             "values": ctx.measurements.daily(m.subject, m.name)}
            for m in measures if m.kind == SERIES]

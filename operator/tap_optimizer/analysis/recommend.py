"""All rules over one platform's inventory and measurements: the analysis document's body."""

from __future__ import annotations

from tap_optimizer.analysis.document import Exclusion, Finding, Recommendation, UtilizationSeries
from tap_optimizer.analysis.queries import SERIES, Measure
from tap_optimizer.analysis.rules import cache, database, dynamodb, fleet
from tap_optimizer.analysis.rules.common import Context, Outcome

UNITS = {"CPUUtilization": "Percent", "EngineCPUUtilization": "Percent"}


def outcomes(ctx: Context) -> list[Outcome]:
    """Every rule's outcome for the resources no tenant owns, in the phases' order."""
    inv = ctx.inventory
    owned = [t for t in inv.tables if inv.tenant_of(t.arn) is None]
    out: list[Outcome] = []
    for table in owned:
        out.extend(dynamodb.unused_indexes(ctx, table))
        stream = dynamodb.unused_stream(ctx, table)
        out.extend([stream] if stream else [])
    out.extend(dynamodb.consolidation(ctx, owned))
    out.extend(fleet.fleet(ctx, f) for f in inv.fleets if inv.tenant_of(f.arn) is None)
    for group in inv.caches:
        out.extend(cache.cache_rightsize(ctx, group) if inv.tenant_of(group.arn) is None else [])
    primary = inv.primary
    if primary is not None and inv.tenant_of(primary.arn) is None:
        out.extend([database.writer(ctx, primary), database.readers(ctx, primary)])
        backup = database.backup_retention(ctx, primary)
        out.extend([backup] if backup else [])
    out.extend(database.secondary_regions(ctx))
    return out


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

"""Cost Explorer: what the platform costs by service, and what a change really saved.

Costs are filtered by the discovery tag `tap.io/platform`, which must be activated as a cost
allocation tag; an empty answer is reported as "no data", never as zero cost. Realized savings
compare the same number of days before and after a phase was applied, so a month's length or a
partial month does not pass for a saving.
"""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.document import CostBreakdown, RealizedSavings
from tap_optimizer.composition.render.common import PLATFORM_TAG

CE_REGION = "us-east-1"  # Cost Explorer has one endpoint
METRIC = "UnblendedCost"
DAYS_PER_MONTH = 30.4


def _query(aws: Aws, platform: str, start: dt.date, end: dt.date, group: bool) -> list[dict[str, Any]]:
    client = aws.client("ce", CE_REGION)
    params: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "MONTHLY", "Metrics": [METRIC],
        "Filter": {"Tags": {"Key": PLATFORM_TAG, "Values": [platform]}},
    }
    if group:
        params["GroupBy"] = [{"Type": "DIMENSION", "Key": "SERVICE"}]
    results = []
    while True:
        answer = client.get_cost_and_usage(**params)
        results.extend(answer.get("ResultsByTime", []))
        if not answer.get("NextPageToken"):
            return results
        params["NextPageToken"] = answer["NextPageToken"]


def by_service(results: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """Amount per service summed over the periods, and the currency."""
    totals: dict[str, float] = collections.defaultdict(float)
    currency = "USD"
    for period in results:
        for group in period.get("Groups", []):
            metric = group["Metrics"][METRIC]
            totals[group["Keys"][0]] += float(metric["Amount"])
            currency = metric.get("Unit", currency)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1])), currency


def _total(results: list[dict[str, Any]]) -> float:
    return sum(float(p.get("Total", {}).get(METRIC, {}).get("Amount", 0)) for p in results)


def breakdown(aws: Aws, platform: str, start: dt.date, end: dt.date) -> CostBreakdown | None:
    services, currency = by_service(_query(aws, platform, start, end, group=True))
    if not services:
        return None
    return {"start": start.isoformat(), "end": end.isoformat(), "currency": currency,
            "byService": {k: round(v, 2) for k, v in services.items()}, "total": round(sum(services.values()), 2)}


def realized(aws: Aws, platform: str, plan: str, phase: str, applied: dt.date,
             today: dt.date) -> RealizedSavings | None:
    """Cost of the days since `applied` against as many days before it; None until a full day has passed."""
    days = (today - applied).days
    if days < 1:
        return None
    before = _total(_query(aws, platform, applied - dt.timedelta(days=days), applied, group=False))
    after = _total(_query(aws, platform, applied, today, group=False))
    return {"plan": plan, "phase": phase, "appliedAt": applied.isoformat(), "days": days,
            "costBefore": round(before, 2), "costAfter": round(after, 2),
            "monthlySavings": round((before - after) / days * DAYS_PER_MONTH, 2)}


def realized_for_plans(aws: Aws, platform: str, plans: list[dict[str, Any]], today: dt.date) -> list[RealizedSavings]:
    """Realized savings of every phase that was applied and not rolled back. Phases applied close
    together share days, so each figure is the change since that phase, not that phase's alone."""
    out = []
    for plan in plans:
        for phase in (plan.get("status") or {}).get("phases", []):
            if phase.get("state") != "Succeeded" or not phase.get("appliedAt"):
                continue
            applied = dt.datetime.fromisoformat(phase["appliedAt"].replace("Z", "+00:00")).date()
            found = realized(aws, platform, plan["metadata"]["name"], phase["name"], applied, today)
            out.extend([found] if found else [])
    return out

"""One analysis run: discover, measure, apply the rules, price, and write the document and plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis import cloudwatch, costs, discovery, pricing_api, queries, recommend
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.config import AnalysisConfig
from tap_optimizer.analysis.document import VERSION, Analysis
from tap_optimizer.analysis.facts import Kind
from tap_optimizer.analysis.facts import pinned as facts_pinned
from tap_optimizer.analysis.inventory import Inventory
from tap_optimizer.analysis.planwriter import optimization_plan
from tap_optimizer.analysis.pricing import PriceBook
from tap_optimizer.analysis.rules import registry
from tap_optimizer.analysis.rules.common import Context


@dataclass(frozen=True)
class Request:
    """What to analyse and how."""

    xr: dict[str, Any]
    regions: list[str]
    now: dt.datetime
    days: int = 60
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    prometheus_url: str = ""  # none: the plan uses the operator's gate endpoint
    gates: dict[str, Any] | None = None
    refresh_prices: bool = False
    with_costs: bool = True


@dataclass(frozen=True)
class Result:
    analysis: Analysis
    plan: dict[str, Any] | None


def run(aws: Aws, request: Request, prices: PriceBook, progress: Callable[[str], None] = print) -> Result:
    inventory = discovery.discover(aws, request.xr, request.regions, progress)
    for gap in inventory.missing:
        progress(f"discovery: not found: {gap}")
    window = queries.Window.ending(request.now, request.days)
    measures = registry.measures(inventory)
    progress(f"metrics: {len(measures)} queries over {request.days} days, period {window.period} s")
    measurements = queries.decode(cloudwatch.fetch(aws, measures, window, progress), window)
    if request.refresh_prices:
        prices = _refreshed(aws, prices, inventory, request, progress)
    ctx = Context(inventory, measurements, request.config, prices)
    recommendations, findings = recommend.split(registry.outcomes(ctx))
    analysis: Analysis = {
        "version": VERSION, "generatedAt": request.now.isoformat(),
        "platform": {"name": inventory.platform, "namespace": inventory.namespace, "regions": request.regions},
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "days": request.days,
                   "periodSeconds": window.period},
        "pricing": {**prices.provenance(), "pricedAt": {r: prices.priced_at(r) for r in request.regions}},
        "instanceFacts": ctx.facts.provenance(),
        "recommendations": recommendations, "findings": findings,
        "excluded": recommend.exclusions(ctx), "utilization": recommend.utilization(ctx, measures),
        "apiCalls": {},
    }
    if request.with_costs:
        breakdown = costs.breakdown(aws, inventory.platform, window.start.date(), window.end.date())
        if breakdown:
            analysis["costs"] = breakdown
    analysis["apiCalls"] = dict(sorted(aws.calls.items()))
    plan = optimization_plan(inventory.platform, inventory.namespace, recommendations,
                             date=request.now.date().isoformat(), prometheus_url=request.prometheus_url,
                             gates=request.gates)
    progress(f"analysis: {len(recommendations)} recommendation(s), {len(findings)} finding(s), "
             f"{aws.total_calls} AWS API calls")
    return Result(analysis, plan)


def _refreshed(aws: Aws, prices: PriceBook, inventory: Inventory, request: Request,
               progress: Callable[[str], None]) -> PriceBook:
    """Current prices for the types the rules compare: what runs now and what they would run."""
    params, steps = inventory.parameters, request.config.sizing.candidateSizes  # fleets compare fewer
    facts = facts_pinned()

    def family(kind: Kind, name: str) -> set[str]:
        """The type and the smaller sizes the sizing rules compare it with."""
        return {name, *(f.name for f in facts.smaller(kind, name, steps))} if name in facts.types[kind] else {name}

    wanted = {
        "ec2": family("ec2", params["compute"]["instanceType"]),
        "elasticache": family("elasticache", params["cache"]["nodeType"]),
        "rds": {*family("rds", params["database"]["writerInstanceClass"]), params["database"]["readerInstanceClass"],
                *(s.get("instanceClass", "") for s in params["database"].get("secondaryRegions", []))} - {""},
    }
    book, unknown = pricing_api.refresh(aws, prices, wanted, request.regions, request.now.date())
    for gap in unknown:
        progress(f"prices: kept the pinned price for {gap}")
    return book

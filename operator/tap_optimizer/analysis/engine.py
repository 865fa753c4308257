"""One analysis run: discover, measure, apply the rules, price, and write the document and plan."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis import cloudwatch, costs, discovery, pricing_api, queries, recommend
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.config import AnalysisConfig
from tap_optimizer.analysis.document import VERSION, Analysis, Finding, Recommendation
from tap_optimizer.analysis.facts import Kind
from tap_optimizer.analysis.facts import pinned as facts_pinned
from tap_optimizer.analysis.inventory import Inventory
from tap_optimizer.analysis.planwriter import optimization_plan
from tap_optimizer.analysis.pricing import PriceBook
from tap_optimizer.analysis.queries import Measure
from tap_optimizer.analysis.rules import registry
from tap_optimizer.analysis.rules.common import Context, Outcome


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


@dataclass(frozen=True)
class Judged:
    """The rules' outcomes for each inventory (one per TapPlatform; one per ACK object or cluster),
    on one window of measurements fetched for all of them at once."""

    window: queries.Window
    measures: list[Measure]
    prices: PriceBook
    contexts: list[Context]
    outcomes: list[list[Outcome]]  # per inventory, in the registry's order

    def split(self) -> tuple[list[Recommendation], list[Finding]]:
        return recommend.split([o for found in self.outcomes for o in found])


def judge(aws: Aws, inventories: Sequence[Inventory], request: Request, prices: PriceBook,
          progress: Callable[[str], None] = print) -> Judged:
    """Measure what the rules need for every inventory (each measure asked once) and apply them."""
    window = queries.Window.ending(request.now, request.days)
    measures = list(dict.fromkeys(m for inventory in inventories for m in registry.measures(inventory)))
    progress(f"metrics: {len(measures)} queries over {request.days} days, period {window.period} s")
    measurements = queries.decode(cloudwatch.fetch(aws, measures, window, progress), window)
    if request.refresh_prices:
        prices = _refreshed(aws, prices, inventories, request, progress)
    contexts = [Context(inventory, measurements, request.config, prices) for inventory in inventories]
    return Judged(window, measures, prices, contexts, [registry.outcomes(ctx) for ctx in contexts])


def document(request: Request, platform: dict[str, Any], judged: Judged, recommendations: list[Recommendation],
             findings: list[Finding]) -> Analysis:
    """The analysis document of a run (`apiCalls` and `costs` are the caller's)."""
    window, prices = judged.window, judged.prices
    facts = judged.contexts[0].facts if judged.contexts else facts_pinned()
    return {
        "version": VERSION, "generatedAt": request.now.isoformat(), "platform": platform,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat(), "days": request.days,
                   "periodSeconds": window.period},
        "pricing": {**prices.provenance(), "pricedAt": {r: prices.priced_at(r) for r in request.regions}},
        "instanceFacts": facts.provenance(),
        "recommendations": recommendations, "findings": findings,
        "excluded": [e for ctx in judged.contexts for e in recommend.exclusions(ctx)],
        "utilization": [u for ctx in judged.contexts[:1] for u in recommend.utilization(ctx, judged.measures)],
        "apiCalls": {},
    }


def run(aws: Aws, request: Request, prices: PriceBook, progress: Callable[[str], None] = print) -> Result:
    inventory = discovery.discover(aws, request.xr, request.regions, progress)
    for gap in inventory.missing:
        progress(f"discovery: not found: {gap}")
    judged = judge(aws, [inventory], request, prices, progress)
    recommendations, findings = judged.split()
    analysis = document(request, {"name": inventory.platform, "namespace": inventory.namespace,
                                  "regions": request.regions}, judged, recommendations, findings)
    if request.with_costs:
        window = judged.window
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


def _refreshed(aws: Aws, prices: PriceBook, inventories: Sequence[Inventory], request: Request,
               progress: Callable[[str], None]) -> PriceBook:
    """Current prices for the types the rules compare: what runs now and what they would run."""
    steps = request.config.sizing.candidateSizes  # fleets compare fewer
    facts = facts_pinned()

    def family(kind: Kind, name: str) -> set[str]:
        """The type and the smaller sizes the sizing rules compare it with."""
        return {name, *(f.name for f in facts.smaller(kind, name, steps))} if name in facts.types[kind] else {name}

    wanted: dict[str, set[str]] = {"ec2": set(), "elasticache": set(), "rds": set()}
    for params in (i.parameters for i in inventories):
        compute, cache, db = (params.get(k) or {} for k in ("compute", "cache", "database"))
        wanted["ec2"] |= family("ec2", compute["instanceType"]) if "instanceType" in compute else set()
        wanted["elasticache"] |= family("elasticache", cache["nodeType"]) if "nodeType" in cache else set()
        wanted["rds"] |= {*(family("rds", db["writerInstanceClass"]) if "writerInstanceClass" in db else set()),
                          db.get("readerInstanceClass", ""),
                          *(s.get("instanceClass", "") for s in db.get("secondaryRegions", []))} - {""}
    book, unknown = pricing_api.refresh(aws, prices, wanted, request.regions, request.now.date())
    for gap in unknown:
        progress(f"prices: kept the pinned price for {gap}")
    return book

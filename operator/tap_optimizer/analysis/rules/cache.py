"""The Redis replication group: node type and topology, judged together on the target topology.

EngineCPUUtilization is the Redis engine's own thread, one core per node whatever the node's
vCPUs, so it does not scale with the node type within a family; it scales with the keys each
shard serves: x current shards / shards after. Memory scales with the data per node:
x (current GiB x current shards) / (candidate GiB x shards after). The topology after is the
target one when it has fewer nodes than now (else the topology is kept). The node type and the
topology are two recommendations (ElastiCache changes them in separate steps, the node type's
phase first), so a candidate is judged on both states it passes through: the candidate on the
current shards, then on the shards after.
"""

from __future__ import annotations

from typing import cast

from tap_optimizer.analysis.document import Recommendation
from tap_optimizer.analysis.facts import FactMissingError, InstanceFacts
from tap_optimizer.analysis.inventory import Cache
from tap_optimizer.analysis.options import Option
from tap_optimizer.analysis.pricing import PriceMissingError
from tap_optimizer.analysis.projection import Profile, Projected, project, too_few
from tap_optimizer.analysis.rules import sizing
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, missing, recommend, replace

SECONDS_PER_DATAPOINT = 60
RULE = "cache-rightsize"


def _load(ctx: Context, cache: Cache) -> dict[str, float | None]:
    """The busiest node's CPU and memory, and the group's commands per second (p95 per node, summed)."""
    m = ctx.measurements
    nodes = [f"cache/{cache.group_id}/{n}" for n in cache.nodes]

    def worst(name: str) -> float | None:
        found = [m.value(s, name) for s in nodes]
        present = [v for v in found if v is not None]
        return max(present) if present and len(present) == len(found) else None

    commands = [v for s in nodes for v in (m.value(s, "gets"), m.value(s, "sets")) if v is not None]
    per_second = sum(commands) / SECONDS_PER_DATAPOINT if nodes and len(commands) == 2 * len(nodes) else None
    return {"cpuP95": worst("cpu"), "memoryP95": worst("memory"), "commandsPerSecond": per_second}


def busiest(ctx: Context, cache: Cache, name: str) -> Profile:
    """Per hour, the busiest node's value (None where no node has a datapoint)."""
    rows = [ctx.measurements.profile(f"cache/{cache.group_id}/{n}", name) for n in cache.nodes]
    return [max((v for v in hour if v is not None), default=None) for hour in zip(*rows, strict=True)] if rows else []


def _nodes(cache: Cache) -> int:
    return cache.shards * (1 + cache.replicas_per_shard)


def topology_after(cache: Cache, shards: int, replicas_per_shard: int) -> tuple[int, int]:
    """(shards, replicas per shard) the group ends with: the target when it has fewer nodes."""
    fewer = shards * (1 + replicas_per_shard) < _nodes(cache)
    return (shards, replicas_per_shard) if fewer else (cache.shards, cache.replicas_per_shard)


def shards_factor(shards_now: int, shards_after: int) -> float:
    """What each shard carries of its load now, in the worse of the two states a change passes
    through: the current shards (node type changed first), then the shards after."""
    return max(1.0, shards_now / shards_after)


def cache_rightsize(ctx: Context, cache: Cache) -> list[Outcome]:
    resource = f"elasticache replication group {cache.group_id}"
    t = ctx.config.thresholds
    load = _load(ctx, cache)
    if gaps := missing(load):
        return [finding(RULE, resource, cache.region, f"Kept: no CloudWatch data for {', '.join(gaps)}.")]
    evidence = {**load, "nodeType": cache.node_type, "shards": cache.shards,
                "replicasPerShard": cache.replicas_per_shard}
    cpu, memory, commands = (float(load[k] or 0.0) for k in ("cpuP95", "memoryP95", "commandsPerSecond"))
    if cpu >= t.cacheMaxCpuP95 or memory >= t.cacheMaxMemoryP95 or commands >= t.cacheMaxCommandsPerSecond:
        return [finding(RULE, resource, cache.region,
                        f"Kept: p95 engine CPU {load['cpuP95']:.1f} %, memory {load['memoryP95']:.1f} %, "
                        f"{load['commandsPerSecond']:.0f} commands/s (thresholds {t.cacheMaxCpuP95:g} %, "
                        f"{t.cacheMaxMemoryP95:g} %, {t.cacheMaxCommandsPerSecond:g}/s).", evidence)]
    try:
        current = ctx.facts.get("elasticache", cache.node_type)
        cost = ctx.prices.monthly("elasticache", cache.node_type, cache.region, _nodes(cache))
    except (PriceMissingError, FactMissingError) as error:
        return [finding(RULE, resource, cache.region, f"Kept: {error}.")]
    if why := too_few("the busiest node's hourly engine CPU and memory", busiest(ctx, cache, "cpu"),
                      busiest(ctx, cache, "memory")):
        return [finding(RULE, resource, cache.region, why, evidence)]
    candidates = [current, *ctx.facts.smaller("elasticache", cache.node_type, ctx.config.sizing.candidateSizes)]
    judged = sizing.SizedResource(RULE, "compute", resource, cache.region, cache.node_type, cost,
                                  [o for c in candidates if (o := _option(ctx, cache, current, c))], evidence)
    decided = sizing.outcome(ctx, judged, lambda o: [replace(o.target, "cache", "nodeType")],
                             f"p95 engine CPU {load['cpuP95']:.1f} %, memory {load['memoryP95']:.1f} %, "
                             f"{load['commandsPerSecond']:.0f} commands/s")
    if "changes" not in decided:
        return [decided]
    return _split(ctx, cache, cast(Recommendation, decided), cost)


def _option(ctx: Context, cache: Cache, current: InstanceFacts, candidate: InstanceFacts) -> Option | None:
    """`candidate` on the topology after, and on the current shards before the topology changes;
    None without a price or without hourly data."""
    target = ctx.config.targets
    shards, replicas = topology_after(cache, target.cacheShards, target.cacheReplicasPerShard)
    try:
        monthly = ctx.prices.monthly("elasticache", candidate.name, cache.region, shards * (1 + replicas))
    except PriceMissingError:
        return None
    limit, factor = ctx.config.sizing.limit, shards_factor(cache.shards, shards)
    cpu = project("engine CPU", busiest(ctx, cache, "cpu"), factor, limit, busiest(ctx, cache, "cpuPeak"))
    memory = project("memory", busiest(ctx, cache, "memory"), current.memory_gib / candidate.memory_gib * factor, limit,
                     busiest(ctx, cache, "memoryPeak"))
    dimensions: tuple[Projected, ...] = tuple(d for d in (cpu, memory) if d is not None)
    if len(dimensions) < 2:
        return None
    return Option(candidate.name, monthly, dimensions, {"shards": shards, "replicasPerShard": replicas})


def _split(ctx: Context, cache: Cache, decided: Recommendation, cost: float) -> list[Outcome]:
    """The planned option as two steps: its node type (phase compute), then its topology (phase
    cache-topology); each step that changes nothing is left out."""
    target, options = ctx.config.targets, decided.get("options", [])
    node_type = options[0]["target"]
    shards, replicas = topology_after(cache, target.cacheShards, target.cacheReplicasPerShard)
    per_node = ctx.prices.monthly("elasticache", node_type, cache.region)
    type_savings = cost - per_node * _nodes(cache)
    topology_savings = per_node * (_nodes(cache) - shards * (1 + replicas))
    sized = {"riskScore": decided.get("riskScore"), "options": options}
    out: list[Outcome] = []
    if node_type != cache.node_type and type_savings > 0:
        out.append(recommend(RULE, "compute", decided["resource"], cache.region,
                             [replace(node_type, "cache", "nodeType")], decided["reason"], decided["evidence"],
                             decided["risk"], type_savings, False, **sized))
    if (cache.shards, cache.replicas_per_shard) != (shards, replicas) and topology_savings > 0:
        out.append(recommend("cache-topology", "cache-topology", decided["resource"], cache.region, [
            replace(shards, "cache", "shards"), replace(replicas, "cache", "replicasPerShard"),
        ], f"{cache.shards} shards x {cache.replicas_per_shard} replicas -> {shards} x {replicas}; "
           f"{decided['reason']}", decided["evidence"],
            decided["risk"], topology_savings, False, **sized))
    return out or [finding(RULE, decided["resource"], cache.region, "Kept: already at or below the target size.",
                           decided["evidence"])]

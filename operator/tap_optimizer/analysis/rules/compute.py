"""Compute: the application's Auto Scaling group and the Redis cache.

Both rules need every one of their measurements: a missing metric keeps the resource as it is.
"""

from __future__ import annotations

from tap_optimizer.analysis.inventory import Cache, Fleet
from tap_optimizer.analysis.pricing import PriceMissingError
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, missing, recommend, replace

SECONDS_PER_DATAPOINT = 60  # EC2 detailed monitoring (the launch template enables it), ElastiCache


def network_percent(bytes_in: float, bytes_out: float, baseline_gbps: float) -> float:
    """p95 traffic per datapoint as a share of the instance type's baseline bandwidth."""
    bits_per_second = (bytes_in + bytes_out) * 8 / SECONDS_PER_DATAPOINT
    return 100 * bits_per_second / (baseline_gbps * 1e9)


def fleet(ctx: Context, group: Fleet) -> Outcome:
    resource = f"autoscaling group {group.name}"
    m, t, target = ctx.measurements, ctx.config.thresholds, ctx.config.targets
    subject = f"fleet/{group.name}"
    values = {name: m.value(subject, name) for name in ("cpu", "networkIn", "networkOut")}
    if gaps := missing(values):
        return finding("compute-rightsize", resource, group.region, f"Kept: no CloudWatch data for {', '.join(gaps)}.")
    try:
        baseline = ctx.prices.baseline_gbps(group.instance_type)
        network = network_percent(values["networkIn"], values["networkOut"], baseline)
        savings = (ctx.prices.monthly("ec2", group.instance_type, group.region, group.desired)
                   - ctx.prices.monthly("ec2", target.instanceType, group.region, target.desiredCapacity))
    except PriceMissingError as error:
        return finding("compute-rightsize", resource, group.region, f"Kept: {error}.")
    evidence = {"cpuP95": values["cpu"], "networkP95Percent": network, "instanceType": group.instance_type,
                "desiredCapacity": group.desired}
    if values["cpu"] >= t.computeMaxCpuP95 or network >= t.computeMaxNetworkP95:
        return finding("compute-rightsize", resource, group.region,
                       f"Kept: p95 CPU {values['cpu']:.1f} % (threshold {t.computeMaxCpuP95:g} %), p95 network "
                       f"{network:.1f} % of baseline (threshold {t.computeMaxNetworkP95:g} %).", evidence)
    if savings <= 0:
        return finding("compute-rightsize", resource, group.region, "Kept: already at or below the target size.",
                       evidence)
    return recommend("compute-rightsize", "compute", resource, group.region, [
        replace(target.instanceType, "compute", "instanceType"),
        replace(target.minSize, "compute", "minSize"),
        replace(target.desiredCapacity, "compute", "desiredCapacity"),
        replace(target.maxSize, "compute", "maxSize"),
    ], f"p95 CPU {values['cpu']:.1f} % and p95 network {network:.1f} % of baseline over "
       f"{m.window.days:.0f} days: {group.desired} x {group.instance_type} -> {target.desiredCapacity} x "
       f"{target.instanceType} ({target.minSize}-{target.maxSize}).", evidence, "medium", savings)


def _cache_load(ctx: Context, cache: Cache) -> dict[str, float | None]:
    """The busiest node's CPU and memory, and the group's commands per second (p95 per node, summed)."""
    m = ctx.measurements
    nodes = [f"cache/{cache.group_id}/{n}" for n in cache.nodes]

    def worst(name: str) -> float | None:
        found = [m.value(s, name) for s in nodes]
        return None if not found or None in found else max(found)

    commands = [m.value(s, "gets") for s in nodes] + [m.value(s, "sets") for s in nodes]
    per_second = None if not nodes or None in commands else sum(commands) / SECONDS_PER_DATAPOINT
    return {"cpuP95": worst("cpu"), "memoryP95": worst("memory"), "commandsPerSecond": per_second}


def cache_rightsize(ctx: Context, cache: Cache) -> list[Outcome]:
    """Node type and topology are two recommendations: ElastiCache changes them in separate steps."""
    resource = f"elasticache replication group {cache.group_id}"
    t, target = ctx.config.thresholds, ctx.config.targets
    load = _cache_load(ctx, cache)
    if gaps := missing(load):
        return [finding("cache-rightsize", resource, cache.region, f"Kept: no CloudWatch data for {', '.join(gaps)}.")]
    try:
        old_gib = ctx.prices.cache_memory_gib(cache.node_type) * cache.shards
        new_gib = ctx.prices.cache_memory_gib(target.cacheNodeType) * target.cacheShards
        type_savings = ctx.prices.monthly("elasticache", cache.node_type, cache.region, _nodes(cache)) - \
            ctx.prices.monthly("elasticache", target.cacheNodeType, cache.region, _nodes(cache))
        topology_savings = ctx.prices.monthly("elasticache", target.cacheNodeType, cache.region,
                                              _nodes(cache) - target.cacheShards * (1 + target.cacheReplicasPerShard))
    except PriceMissingError as error:
        return [finding("cache-rightsize", resource, cache.region, f"Kept: {error}.")]
    projected = load["memoryP95"] * old_gib / new_gib
    evidence = {**load, "projectedMemoryPercent": projected, "nodeType": cache.node_type, "shards": cache.shards,
                "replicasPerShard": cache.replicas_per_shard}
    busy = (load["cpuP95"] >= t.cacheMaxCpuP95 or load["memoryP95"] >= t.cacheMaxMemoryP95
            or load["commandsPerSecond"] >= t.cacheMaxCommandsPerSecond or projected >= t.cacheMaxProjectedMemory)
    if busy:
        return [finding("cache-rightsize", resource, cache.region,
                        f"Kept: p95 engine CPU {load['cpuP95']:.1f} %, memory {load['memoryP95']:.1f} %, "
                        f"{load['commandsPerSecond']:.0f} commands/s, {projected:.0f} % memory after shrinking "
                        f"(thresholds {t.cacheMaxCpuP95:g} %, {t.cacheMaxMemoryP95:g} %, "
                        f"{t.cacheMaxCommandsPerSecond:g}/s, {t.cacheMaxProjectedMemory:g} %).", evidence)]
    return _cache_changes(ctx, cache, evidence, type_savings, topology_savings)


def _nodes(cache: Cache) -> int:
    return cache.shards * (1 + cache.replicas_per_shard)


def _cache_changes(ctx: Context, cache: Cache, evidence: dict, type_savings: float,
                   topology_savings: float) -> list[Outcome]:
    target = ctx.config.targets
    resource = f"elasticache replication group {cache.group_id}"
    load = (f"p95 engine CPU {evidence['cpuP95']:.1f} %, memory {evidence['memoryP95']:.1f} %, "
            f"{evidence['commandsPerSecond']:.0f} commands/s")
    out: list[Outcome] = []
    if cache.node_type != target.cacheNodeType and type_savings > 0:
        out.append(recommend("cache-rightsize", "compute", resource, cache.region,
                             [replace(target.cacheNodeType, "cache", "nodeType")],
                             f"{load}: {cache.node_type} -> {target.cacheNodeType}.", evidence, "medium", type_savings))
    if (cache.shards, cache.replicas_per_shard) != (target.cacheShards, target.cacheReplicasPerShard) \
            and topology_savings > 0:
        out.append(recommend("cache-topology", "cache-topology", resource, cache.region, [
            replace(target.cacheShards, "cache", "shards"),
            replace(target.cacheReplicasPerShard, "cache", "replicasPerShard"),
        ], f"{load}: {cache.shards} shards x {cache.replicas_per_shard} replicas -> {target.cacheShards} x "
           f"{target.cacheReplicasPerShard}, data at {evidence['projectedMemoryPercent']:.0f} % of the smaller "
           "cache's memory.", evidence, "medium", topology_savings))
    return out or [finding("cache-rightsize", resource, cache.region, "Kept: already at or below the target size.",
                           evidence)]

"""Aurora: writer class, reader count, secondary regions, backup retention.

Secondary regions and backup retention are never proposed on metrics alone: the user's policy
must allow them, because they trade disaster recovery and restore points for money.
"""

from __future__ import annotations

import math
from typing import Any

from tap_optimizer.analysis.facts import FactMissingError, InstanceFacts
from tap_optimizer.analysis.inventory import Cluster
from tap_optimizer.analysis.options import Option
from tap_optimizer.analysis.pricing import PriceMissingError
from tap_optimizer.analysis.projection import cpu_factor, project, too_few
from tap_optimizer.analysis.rules import sizing
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, missing, recommend, replace

BYTES_PER_GB = 1e9


def _database(ctx: Context) -> dict[str, Any]:
    return ctx.parameters.get("database", {})


def writer(ctx: Context, cluster: Cluster) -> list[Outcome]:
    """The writer rule's outcome (one)."""
    return [_writer(ctx, cluster)]


def _writer(ctx: Context, cluster: Cluster) -> Outcome:
    """The writer's hourly CPU projected onto smaller classes of its family (x vCPUs of the current
    class / the candidate's), its hourly peak connections against the candidate's default
    max_connections (a parameter group's higher value gives a smaller class no more memory)."""
    resource = f"aurora cluster {cluster.identifier} / writer"
    current = _database(ctx).get("writerInstanceClass", "")
    subject = f"cluster/{cluster.identifier}"
    cpu = ctx.measurements.value(subject, "writerCpu")
    limit = ctx.config.thresholds.writerMaxCpuP95
    if cpu is None:
        return finding("writer-rightsize", resource, cluster.region, "Kept: no CloudWatch data for the writer's CPU.")
    evidence = {"writerCpuP95": cpu, "instanceClass": current}
    if cpu >= limit:
        return finding("writer-rightsize", resource, cluster.region,
                       f"Kept: p95 CPU {cpu:.1f} % (threshold {limit:g} %).", evidence)
    try:
        facts = ctx.facts.get("rds", current)
        cost = ctx.prices.monthly("rds", current, cluster.region)
    except (PriceMissingError, FactMissingError) as error:
        return finding("writer-rightsize", resource, cluster.region, f"Kept: {error}.", evidence)
    candidates = ctx.facts.smaller("rds", current, ctx.config.sizing.candidateSizes)
    if not candidates:
        return finding("writer-rightsize", resource, cluster.region,
                       f"Kept: no smaller class of {facts.family} in the instance facts.", evidence)
    if why := too_few("hourly writer CPU and connections", *(ctx.measurements.profile(subject, n)
                                                            for n in ("writerCpu", "writerConnections"))):
        return finding("writer-rightsize", resource, cluster.region, why, evidence)
    options = [o for c in candidates if (o := _writer_option(ctx, cluster, facts, c))]
    judged = sizing.SizedResource("writer-rightsize", "database", resource, cluster.region, current, cost, options,
                                  evidence)
    return sizing.outcome(ctx, judged, lambda o: [replace(o.target, "database", "writerInstanceClass")],
                          f"p95 CPU {cpu:.1f} % over {ctx.measurements.window.days:.0f} days (threshold {limit:g} %)")


def _writer_option(ctx: Context, cluster: Cluster, current: InstanceFacts, candidate: InstanceFacts) -> Option | None:
    """`candidate` under the writer's hours; None without a price or a CPU and connections profile."""
    subject, limit = f"cluster/{cluster.identifier}", ctx.config.sizing.limit
    try:
        monthly = ctx.prices.monthly("rds", candidate.name, cluster.region)
    except PriceMissingError:
        return None
    cpu = project("CPU", ctx.measurements.profile(subject, "writerCpu"), cpu_factor(current, candidate), limit,
                  ctx.measurements.profile(subject, "writerCpuPeak"))
    connections = project("connections", ctx.measurements.profile(subject, "writerConnections"),
                          100 / candidate.max_connections if candidate.max_connections else math.inf, limit)
    if cpu is None or connections is None:
        return None
    return Option(candidate.name, monthly, (cpu, connections))


def readers(ctx: Context, cluster: Cluster) -> list[Outcome]:
    """The reader-count rule's outcome (one)."""
    return [_readers(ctx, cluster)]


def _readers(ctx: Context, cluster: Cluster) -> Outcome:
    resource = f"aurora cluster {cluster.identifier} / readers"
    db, t = _database(ctx), ctx.config.thresholds
    count, target = int(db.get("readerCount", 0)), ctx.config.targets.readerCount
    subject = f"cluster/{cluster.identifier}"
    values = {name: ctx.measurements.value(subject, name) for name in ("replicaLag", "readIops", "writeIops")}
    if count <= target:
        return finding("reader-reduce", resource, cluster.region, f"Kept: {count} reader(s), target {target}.")
    if gaps := missing(values):
        return finding("reader-reduce", resource, cluster.region, f"Kept: no CloudWatch data for {', '.join(gaps)}.")
    total = values["readIops"] + values["writeIops"]
    share = values["readIops"] / total if total else 0.0
    evidence = {"replicaLagP95Ms": values["replicaLag"], "readShareOfIops": share, "readerCount": count}
    if values["replicaLag"] >= t.readerMaxReplicaLagMs or share >= t.readerMaxReadShare:
        return finding("reader-reduce", resource, cluster.region,
                       f"Kept: p95 replica lag {values['replicaLag']:.0f} ms (threshold {t.readerMaxReplicaLagMs:g}), "
                       f"reads {share:.0%} of IOPS (threshold {t.readerMaxReadShare:.0%}).", evidence)
    reader_class = db.get("readerInstanceClass", "")
    try:
        facts = ctx.facts.get("rds", reader_class)
        cost = ctx.prices.monthly("rds", reader_class, cluster.region, count)
    except (PriceMissingError, FactMissingError) as error:
        return finding("reader-reduce", resource, cluster.region, f"Kept: {error}.", evidence)
    if why := too_few("hourly reader CPU and connections", *(ctx.measurements.profile(subject, n)
                                                            for n in ("readerCpu", "readerConnections"))):
        return finding("reader-reduce", resource, cluster.region, why, evidence)
    options = [o for n in range(target, count)
               if (o := _reader_option(ctx, cluster, facts, count, n) if n
                   else _onto_writer(ctx, cluster, facts, count))]
    judged = sizing.SizedResource("reader-reduce", "database", resource, cluster.region, f"{count} x {reader_class}",
                                  cost, options, evidence)
    return sizing.outcome(ctx, judged, lambda o: [replace(o.details["readerCount"], "database", "readerCount")],
                          f"p95 replica lag {values['replicaLag']:.0f} ms and reads {share:.0%} of IOPS")


def _reader_option(ctx: Context, cluster: Cluster, facts: InstanceFacts, count: int, n: int) -> Option | None:
    """`n` readers of the same class carrying what `count` carry: reads spread over the readers, so
    each reader's CPU and connections x count / n."""
    subject, limit = f"cluster/{cluster.identifier}", ctx.config.sizing.limit
    cpu = project("CPU", ctx.measurements.profile(subject, "readerCpu"), count / n, limit,
                  ctx.measurements.profile(subject, "readerCpuPeak"))
    connections = project("connections", ctx.measurements.profile(subject, "readerConnections"),
                          count / n * 100 / facts.max_connections if facts.max_connections else math.inf, limit)
    if cpu is None or connections is None:
        return None
    return Option(f"{n} x {facts.name}", ctx.prices.monthly("rds", facts.name, cluster.region, n), (cpu, connections),
                  {"readerCount": n})


def _onto_writer(ctx: Context, cluster: Cluster, reader: InstanceFacts, count: int) -> Option | None:
    """No reader left: the writer carries its own hours and the readers' (their CPU x count x a
    reader's power / the writer's, their connections x count); None without the writer's facts or
    hourly profiles."""
    subject, limit = f"cluster/{cluster.identifier}", ctx.config.sizing.limit
    try:
        writer = ctx.facts.get("rds", _database(ctx).get("writerInstanceClass", ""))
    except FactMissingError:
        return None
    m = ctx.measurements

    def summed(own: str, theirs: str, factor: float) -> list[float | None]:
        mine, readers = m.profile(subject, own), m.profile(subject, theirs)
        if len(mine) != len(readers):
            return []
        return [a + b * factor if a is not None and b is not None else None for a, b in zip(mine, readers, strict=True)]

    cpu = project("writer CPU", summed("writerCpu", "readerCpu", count * cpu_factor(reader, writer)), 1.0, limit)
    connections = project("writer connections", summed("writerConnections", "readerConnections", count),
                          100 / writer.max_connections if writer.max_connections else math.inf, limit)
    if cpu is None or connections is None:
        return None
    return Option(f"0 x {reader.name}", 0.0, (cpu, connections), {"readerCount": 0})


def _idle(ctx: Context, cluster: Cluster) -> tuple[bool, dict[str, Any]]:
    """Whether a secondary served no reads: no SELECT and no connection in the whole window."""
    subject = f"cluster/{cluster.identifier}"
    selects, connections = (ctx.measurements.value(subject, n) for n in ("selects", "connections"))
    evidence = {"maxSelectsPerSecond": selects, "maxConnections": connections}
    limit = ctx.config.thresholds.secondaryMaxReadsPerSecond
    idle = selects is not None and connections is not None and selects <= limit and connections == 0
    return idle, evidence


def secondary_regions(ctx: Context, secondaries: list[Cluster]) -> list[Outcome]:
    """One recommendation for all idle secondaries: the list is replaced whole."""
    declared = _database(ctx).get("secondaryRegions", [])
    clusters = {c.region: c for c in secondaries}
    outcomes: list[Outcome] = []
    drop: dict[str, tuple[dict[str, Any], float]] = {}
    for entry in declared:
        cluster = clusters.get(entry["region"])
        resource = f"aurora secondary region {entry['region']}"
        if cluster is None:
            outcomes.append(finding("secondary-region", resource, entry["region"], "Kept: its cluster was not found."))
            continue
        idle, evidence = _idle(ctx, cluster)
        if not idle:
            outcomes.append(finding("secondary-region", resource, entry["region"],
                                    "Kept: it served reads or connections, or its metrics are missing.", evidence))
        elif not ctx.config.policy.allowSecondaryRegionRemoval:
            outcomes.append(finding("secondary-region", resource, entry["region"],
                                    "Idle, kept: policy.allowSecondaryRegionRemoval is false.", evidence))
        else:
            drop[entry["region"]] = (evidence, _secondary_cost(ctx, entry))
    if drop:
        outcomes.append(_drop_regions(ctx, declared, drop))
    return outcomes


def _secondary_cost(ctx: Context, entry: dict[str, Any]) -> float:
    try:
        return ctx.prices.monthly("rds", entry.get("instanceClass", ""), entry["region"], entry.get("instanceCount", 1))
    except PriceMissingError:
        return 0.0


def _drop_regions(ctx: Context, declared: list[dict[str, Any]], drop: dict[str, tuple[dict, float]]) -> Outcome:
    keep = [entry for entry in declared if entry["region"] not in drop]
    evidence = {f"{region}.{k}": v for region, (ev, _) in drop.items() for k, v in ev.items()}
    regions = ", ".join(sorted(drop))
    return recommend("secondary-region", "database", f"aurora secondary regions {regions}", ctx.inventory.region,
                     [replace(keep, "database", "secondaryRegions")],
                     f"No SELECT and no connection in {ctx.measurements.window.days:.0f} days on {regions}; "
                     "allowed by policy. Re-adding a region re-replicates the whole database.",
                     evidence, "high", sum(cost for _, cost in drop.values()), irreversible=True)


def backup_retention(ctx: Context, cluster: Cluster) -> list[Outcome]:
    """The backup rule's outcome, none when the policy asks no shorter retention."""
    found = _backup_retention(ctx, cluster)
    return [found] if found is not None else []


def _backup_retention(ctx: Context, cluster: Cluster) -> Outcome | None:
    wanted = ctx.config.policy.backupRetentionDays
    current = int(_database(ctx).get("backupRetentionDays", cluster.backup_retention_days))
    resource = f"aurora cluster {cluster.identifier} / backups"
    if wanted is None:
        return finding("backup-retention", resource, cluster.region,
                       f"Kept at {current} days: policy.backupRetentionDays is not set.")
    if wanted >= current:
        return None
    stored = ctx.measurements.value(f"cluster/{cluster.identifier}", "backupBytes") or 0.0
    savings = stored / BYTES_PER_GB * (1 - wanted / current) * ctx.prices.backup_gb_month(cluster.region)
    return recommend("backup-retention", "database", resource, cluster.region,
                     [replace(wanted, "database", "backupRetentionDays")],
                     f"Policy sets {wanted} days (now {current}); automated backups older than {wanted} days "
                     "are deleted.", {"billedBackupBytes": stored, "retentionDays": current},
                     "medium", savings, irreversible=True)

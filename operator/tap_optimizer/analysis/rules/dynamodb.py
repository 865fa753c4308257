"""DynamoDB: unused global secondary indexes, unused streams, consolidation candidates.

A table with no datapoint at all is a table whose metrics we cannot see (wrong region, missing
permission, a new table), not an idle one: its indexes and stream are kept.
"""

from __future__ import annotations

from tap_optimizer.analysis.inventory import Table
from tap_optimizer.analysis.rules.common import Context, Outcome, finding, path, recommend, replace

BYTES_PER_GB = 1e9
DAYS_PER_WEEK = 7


def weekly_totals(daily: list[float | None], period_days: float) -> list[float]:
    """Totals per whole week, newest week last; a period without a datapoint counted 0 (DynamoDB
    publishes no datapoint for an index nobody queried). The oldest partial week is dropped so
    that every total covers seven days."""
    per_week = max(1, round(DAYS_PER_WEEK / period_days))
    values = [v or 0.0 for v in daily]
    start = len(values) % per_week
    return [sum(values[i:i + per_week]) for i in range(start, len(values), per_week)]


def _visible(ctx: Context, table: Table) -> bool:
    """Whether CloudWatch has any datapoint for the table itself."""
    m = ctx.measurements
    return any(v is not None for v in m.daily(f"table/{table.key}", "reads") + m.daily(f"table/{table.key}", "writes"))


def unused_indexes(ctx: Context, table: Table) -> list[Outcome]:
    declared = ctx.parameters.get("tables", {}).get(table.key, {}).get("globalSecondaryIndexes", {})
    return [_index(ctx, table, index, index in declared) for index in sorted(table.indexes)]


def _index(ctx: Context, table: Table, index: str, declared: bool) -> Outcome:
    resource = f"dynamodb table {table.name} / index {index}"
    if not _visible(ctx, table):
        return finding("unused-gsi", resource, table.region, "Kept: CloudWatch has no datapoint for the table, "
                       "so its indexes' use cannot be measured.")
    period_days = ctx.measurements.window.period / 86400
    weeks = weekly_totals(ctx.measurements.daily(f"index/{table.key}/{index}", "reads"), period_days)
    limit = ctx.config.thresholds.gsiMaxWeeklyReads
    evidence = {"maxWeeklyReads": max(weeks, default=0.0), "weeks": len(weeks), "thresholdWeeklyReads": limit,
                "metric": "SampleCount of ConsumedReadCapacityUnits per GlobalSecondaryIndexName"}
    if not weeks or max(weeks) >= limit:
        return finding("unused-gsi", resource, table.region,
                       f"Kept: up to {max(weeks, default=0):.0f} reads in a week (threshold {limit:g}).", evidence)
    if not declared:
        return finding("unused-gsi", resource, table.region,
                       "Unused, but not declared in the TapPlatform: nothing the optimizer can change.", evidence)
    savings, cost = _index_cost(ctx, table, index)
    return recommend("unused-gsi", "dynamodb", resource, table.region,
                     [{"op": "remove", "path": path("tables", table.key, "globalSecondaryIndexes", index)}],
                     f"At most {max(weeks):.0f} reads a week in each of {len(weeks)} weeks "
                     f"(threshold {limit:g}); dropping it saves its write replication and storage.",
                     {**evidence, **cost}, "medium", savings, irreversible=True)


def _index_cost(ctx: Context, table: Table, index: str) -> tuple[float, dict[str, float | str]]:
    """Monthly cost of an index: the write units it replicates, and its storage."""
    prices = ctx.prices.dynamodb(table.region)
    units = ctx.measurements.value(f"index/{table.key}/{index}", "writeUnits") or 0.0
    monthly_units = units / ctx.month_fraction()
    writes = monthly_units / 1e6 * prices["writeRequestUnitsPerMillion"]
    size = table.indexes[index]
    storage = (size or 0) / BYTES_PER_GB * prices["storageGbMonth"]
    evidence: dict[str, float | str] = {"monthlyWriteUnits": monthly_units, "monthlyWriteCost": writes,
                                        "storageCost": storage,
                                        "indexSizeBytes": size if size is not None else "not reported"}
    return writes + storage, evidence


def unused_stream(ctx: Context, table: Table) -> list[Outcome]:
    """The stream rule's outcome, none for a table without a stream."""
    found = _unused_stream(ctx, table)
    return [found] if found is not None else []


def _unused_stream(ctx: Context, table: Table) -> Outcome | None:
    if table.stream_arn is None:
        return None
    resource = f"dynamodb table {table.name} / stream"
    reads = ctx.measurements.value(f"stream/{table.key}", "getRecords")
    evidence = {"streamArn": table.stream_arn, "lambdaConsumers": len(table.lambda_consumers),
                "kinesisDestinations": len(table.kinesis_destinations), "getRecordsCalls": reads or 0.0}
    consumers = [*table.lambda_consumers, *table.kinesis_destinations]
    if consumers or reads or not _visible(ctx, table):
        why = (f"consumed by {', '.join(consumers)}" if consumers else
               f"{reads:.0f} GetRecords calls in the window" if reads else "no table metrics to judge by")
        return finding("unused-stream", resource, table.region, f"Kept: {why}.", evidence)
    if not ctx.parameters.get("tables", {}).get(table.key, {}).get("streamEnabled", False):
        return finding("unused-stream", resource, table.region, "Unused, and already disabled in the TapPlatform.",
                       evidence)
    return recommend("unused-stream", "dynamodb", resource, table.region,
                     [replace(False, "tables", table.key, "streamEnabled")],
                     "No Lambda event source mapping on its stream ARN, no Kinesis streaming destination and no "
                     "GetRecords call in the window; re-enabling later gives a new stream ARN.",
                     evidence, "medium", 0.0, irreversible=True)


def consolidation(ctx: Context, tables: list[Table]) -> list[Outcome]:
    """Report-only: quiet tables that could share one table (single-table design)."""
    limit = ctx.config.thresholds.consolidationMaxDailyRequests
    quiet = []
    for table in tables:
        m = ctx.measurements
        days = [(r or 0) + (w or 0) for r, w in zip(m.daily(f"table/{table.key}", "reads"),
                                                    m.daily(f"table/{table.key}", "writes"), strict=True)]
        if days and max(days) < limit:
            quiet.append((table, max(days)))
    if len(quiet) < 2:
        return []
    names = ", ".join(t.name for t, _ in quiet)
    return [finding("table-consolidation", f"dynamodb table {t.name}", t.region,
                    f"Report only: at most {peak:.0f} requests a day (threshold {limit:g}); "
                    f"candidates to consolidate: {names}.", {"maxDailyRequests": peak})
            for t, peak in quiet]

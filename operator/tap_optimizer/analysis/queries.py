"""Which CloudWatch metrics the rules need, as GetMetricData queries, and their answers as data.

Two kinds of query per measure:
- a *summary*: one value over the whole window, with the period set to the window's length, so
  a percentile is CloudWatch's own percentile of the raw datapoints (never a percentile of
  averages or of hourly maxima);
- a *series*: one value per period across the window (the heatmap, and the weekly counts of the
  GSI rule), with the period chosen so that the window fits in few datapoints per series;
- an *hourly* profile: one value per hour across the window (1,440 for 60 days), what the sizing
  rules project onto candidates (CloudWatch keeps 1-hour data for 455 days).

Subjects name resources stably (`table/users`, `index/users/ByRole`, `fleet/<asg>`,
`cache/<group>/<node>`, `cluster/<id>`), so rules look measurements up by name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

from tap_optimizer.analysis.inventory import Cache, Cluster, Fleet, Table

# CloudWatch keeps 5-minute data for 63 days and 1-hour data for 455 days; these periods are
# all valid for a window of that age. The smallest with at most MAX_POINTS per series wins.
PERIODS = (300, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_POINTS = 100
SERIES, SUMMARY, HOURLY = "series", "summary", "hourly"
HOUR = 3600


@dataclass(frozen=True)
class Window:
    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())

    @property
    def days(self) -> float:
        return self.seconds / 86400

    @property
    def period(self) -> int:
        return choose_period(self.seconds)

    def slots(self) -> list[dt.datetime]:
        """The start of every series period in the window."""
        step = dt.timedelta(seconds=self.period)
        return [self.start + i * step for i in range(self.seconds // self.period)]

    def hours(self) -> list[dt.datetime]:
        """The start of every hour in the window."""
        return [self.start + dt.timedelta(hours=i) for i in range(self.seconds // HOUR)]

    @staticmethod
    def ending(end: dt.datetime, days: int) -> Window:
        """`days` whole days up to midnight UTC of `end`'s day (CloudWatch aligns periods to the start)."""
        midnight = end.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return Window(midnight - dt.timedelta(days=days), midnight)


def choose_period(seconds: int) -> int:
    """The finest period from PERIODS that keeps a series at or below MAX_POINTS datapoints."""
    for period in PERIODS:
        if seconds / period <= MAX_POINTS:
            return period
    return PERIODS[-1]


@dataclass(frozen=True)
class Measure:
    """One metric of one resource, as the rules name it."""

    subject: str
    name: str
    region: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str
    kind: str = SUMMARY


def table_measures(t: Table) -> Iterator[Measure]:
    """The table's own request counts: whether CloudWatch sees it at all, and how busy it is."""
    base = (("TableName", t.name),)
    yield Measure(f"table/{t.key}", "reads", t.region, "AWS/DynamoDB", "ConsumedReadCapacityUnits", base,
                  "SampleCount", SERIES)
    yield Measure(f"table/{t.key}", "writes", t.region, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", base,
                  "SampleCount", SERIES)


def index_measures(t: Table) -> Iterator[Measure]:
    base = (("TableName", t.name),)
    for index in sorted(t.indexes):
        dims = (("GlobalSecondaryIndexName", index), *base)
        subject = f"index/{t.key}/{index}"
        # The index's own read requests: SampleCount of its consumed read capacity (one sample per
        # request). UserErrors or the table's reads say nothing about one index.
        yield Measure(subject, "reads", t.region, "AWS/DynamoDB", "ConsumedReadCapacityUnits", dims,
                      "SampleCount", SERIES)
        yield Measure(subject, "writeUnits", t.region, "AWS/DynamoDB", "ConsumedWriteCapacityUnits", dims, "Sum")


def stream_measures(t: Table) -> Iterator[Measure]:
    if t.stream_label:
        dims = (("Operation", "GetRecords"), ("StreamLabel", t.stream_label), ("TableName", t.name))
        yield Measure(f"stream/{t.key}", "getRecords", t.region, "AWS/DynamoDB", "SuccessfulRequestLatency", dims,
                      "SampleCount")


def fleet_measures(f: Fleet) -> Iterator[Measure]:
    dims = (("AutoScalingGroupName", f.name),)
    subject = f"fleet/{f.name}"
    yield Measure(subject, "cpu", f.region, "AWS/EC2", "CPUUtilization", dims, "p95")
    yield Measure(subject, "cpu", f.region, "AWS/EC2", "CPUUtilization", dims, "p95", SERIES)
    yield Measure(subject, "networkIn", f.region, "AWS/EC2", "NetworkIn", dims, "p95")
    yield Measure(subject, "networkOut", f.region, "AWS/EC2", "NetworkOut", dims, "p95")
    for name, metric in (("cpu", "CPUUtilization"), ("networkIn", "NetworkIn"), ("networkOut", "NetworkOut")):
        yield Measure(subject, name, f.region, "AWS/EC2", metric, dims, "p95", HOURLY)
    # what the group ran each hour (its group metrics, which the composition enables)
    yield Measure(subject, "instances", f.region, "AWS/AutoScaling", "GroupInServiceInstances", dims, "Average", HOURLY)


def cache_measures(c: Cache) -> Iterator[Measure]:
    for node in c.nodes:
        dims = (("CacheClusterId", node),)
        subject = f"cache/{c.group_id}/{node}"
        yield Measure(subject, "cpu", c.region, "AWS/ElastiCache", "EngineCPUUtilization", dims, "p95")
        yield Measure(subject, "cpu", c.region, "AWS/ElastiCache", "EngineCPUUtilization", dims, "p95", SERIES)
        yield Measure(subject, "memory", c.region, "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", dims, "p95")
        yield Measure(subject, "cpu", c.region, "AWS/ElastiCache", "EngineCPUUtilization", dims, "p95", HOURLY)
        yield Measure(subject, "cpuPeak", c.region, "AWS/ElastiCache", "EngineCPUUtilization", dims, "Maximum", HOURLY)
        yield Measure(subject, "memory", c.region, "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", dims, "p95",
                      HOURLY)
        yield Measure(subject, "memoryPeak", c.region, "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", dims,
                      "Maximum", HOURLY)
        yield Measure(subject, "gets", c.region, "AWS/ElastiCache", "GetTypeCmds", dims, "p95")
        yield Measure(subject, "sets", c.region, "AWS/ElastiCache", "SetTypeCmds", dims, "p95")


def _cluster_dims(c: Cluster) -> tuple[str, tuple[tuple[str, str], ...]]:
    return f"cluster/{c.identifier}", (("DBClusterIdentifier", c.identifier),)


def secondary_measures(c: Cluster) -> Iterator[Measure]:
    """Whether a secondary region's cluster served anything."""
    subject, dims = _cluster_dims(c)
    yield Measure(subject, "selects", c.region, "AWS/RDS", "SelectThroughput", dims, "Maximum")
    yield Measure(subject, "connections", c.region, "AWS/RDS", "DatabaseConnections", dims, "Maximum")


def writer_measures(c: Cluster) -> Iterator[Measure]:
    subject, dims = _cluster_dims(c)
    writer = (*dims, ("Role", "WRITER"))
    yield Measure(subject, "writerCpu", c.region, "AWS/RDS", "CPUUtilization", writer, "p95")
    yield Measure(subject, "writerCpu", c.region, "AWS/RDS", "CPUUtilization", writer, "p95", SERIES)
    yield Measure(subject, "writerCpu", c.region, "AWS/RDS", "CPUUtilization", writer, "p95", HOURLY)
    yield Measure(subject, "writerCpuPeak", c.region, "AWS/RDS", "CPUUtilization", writer, "Maximum", HOURLY)
    yield Measure(subject, "writerConnections", c.region, "AWS/RDS", "DatabaseConnections", writer, "Maximum", HOURLY)


def reader_measures(c: Cluster) -> Iterator[Measure]:
    subject, dims = _cluster_dims(c)
    yield Measure(subject, "replicaLag", c.region, "AWS/RDS", "AuroraReplicaLagMaximum", dims, "p95")
    yield Measure(subject, "readIops", c.region, "AWS/RDS", "ReadIOPS", dims, "Average")
    yield Measure(subject, "writeIops", c.region, "AWS/RDS", "WriteIOPS", dims, "Average")
    reader = (*dims, ("Role", "READER"))
    yield Measure(subject, "readerCpu", c.region, "AWS/RDS", "CPUUtilization", reader, "p95", HOURLY)
    yield Measure(subject, "readerCpuPeak", c.region, "AWS/RDS", "CPUUtilization", reader, "Maximum", HOURLY)
    yield Measure(subject, "readerConnections", c.region, "AWS/RDS", "DatabaseConnections", reader, "Maximum", HOURLY)
    writer = (*dims, ("Role", "WRITER"))  # what the writer would carry with no reader left
    yield Measure(subject, "writerCpu", c.region, "AWS/RDS", "CPUUtilization", writer, "p95", HOURLY)
    yield Measure(subject, "writerConnections", c.region, "AWS/RDS", "DatabaseConnections", writer, "Maximum", HOURLY)


def backup_measures(c: Cluster) -> Iterator[Measure]:
    subject, dims = _cluster_dims(c)
    yield Measure(subject, "backupBytes", c.region, "AWS/RDS", "TotalBackupStorageBilled", dims, "Average")


def to_query(measure: Measure, query_id: str, window: Window) -> dict:
    """The GetMetricData query of one measure."""
    period = {SERIES: window.period, HOURLY: HOUR}.get(measure.kind, window.seconds)
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": measure.namespace, "MetricName": measure.metric,
                       "Dimensions": [{"Name": n, "Value": v} for n, v in measure.dimensions]},
            "Period": period,
            "Stat": measure.stat,
        },
        "ReturnData": True,
    }


@dataclass(frozen=True)
class Measurements:
    """The answers: a summary value (None when CloudWatch had no datapoint), a series per slot,
    or an hourly profile per hour of the window."""

    window: Window
    summaries: dict[tuple[str, str], float | None]
    series: dict[tuple[str, str], list[float | None]]
    hourly: dict[tuple[str, str], list[float | None]] = field(default_factory=dict)

    def value(self, subject: str, name: str) -> float | None:
        return self.summaries.get((subject, name))

    def daily(self, subject: str, name: str) -> list[float | None]:
        return self.series.get((subject, name), [])

    def profile(self, subject: str, name: str) -> list[float | None]:
        """The hourly profile; empty when it was not measured."""
        return self.hourly.get((subject, name), [])


def decode(found: list[tuple[Measure, list[dt.datetime], list[float]]], window: Window) -> Measurements:
    """Measurements from each measure's timestamps and values (any order, pages merged)."""
    slots = {SERIES: window.slots(), HOURLY: window.hours()}
    rows: dict[str, dict[tuple[str, str], list[float | None]]] = {SERIES: {}, HOURLY: {}}
    summaries: dict[tuple[str, str], float | None] = {}
    for measure, stamps, values in found:
        key = (measure.subject, measure.name)
        if measure.kind == SUMMARY:
            summaries[key] = values[0] if values else None
        else:
            rows[measure.kind][key] = _row(slots[measure.kind], stamps, values)
    return Measurements(window, summaries, rows[SERIES], rows[HOURLY])


def _row(slots: list[dt.datetime], stamps: list[dt.datetime], values: list[float]) -> list[float | None]:
    """Values placed at their slot; None where no datapoint fell."""
    index = {slot: i for i, slot in enumerate(slots)}
    row: list[float | None] = [None] * len(slots)
    for stamp, value in zip(stamps, values, strict=True):
        slot = index.get(stamp.astimezone(dt.UTC))
        if slot is not None:
            row[slot] = value
    return row

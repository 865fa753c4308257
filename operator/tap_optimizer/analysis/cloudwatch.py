"""GetMetricData, batched: every measure of a region in calls of up to 500 queries, each call
followed through its NextToken pages (a call returns at most 100,800 datapoints)."""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.queries import Measure, Window, to_query

MAX_QUERIES = 500
Found = tuple[Measure, list[dt.datetime], list[float]]


def batches(measures: list[Measure], size: int = MAX_QUERIES) -> Iterator[list[Measure]]:
    """Measures grouped by region, in chunks CloudWatch accepts in one call."""
    by_region: dict[str, list[Measure]] = collections.defaultdict(list)
    for measure in measures:
        by_region[measure.region].append(measure)
    for region in sorted(by_region):
        group = by_region[region]
        for start in range(0, len(group), size):
            yield group[start:start + size]


def fetch(aws: Aws, measures: list[Measure], window: Window, progress: Callable[[str], None] = print) -> list[Found]:
    """Every measure's datapoints over the window."""
    out: list[Found] = []
    chunks = list(batches(measures))
    for number, chunk in enumerate(chunks, start=1):
        out.extend(_fetch_chunk(aws, chunk, window))
        progress(f"metrics: call {number}/{len(chunks)} ({len(chunk)} queries, {chunk[0].region}) done")
    return out


def _fetch_chunk(aws: Aws, chunk: list[Measure], window: Window) -> list[Found]:
    client = aws.client("cloudwatch", chunk[0].region)
    ids = {f"m{i}": measure for i, measure in enumerate(chunk)}
    stamps: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    values: dict[str, list[float]] = collections.defaultdict(list)
    params: dict[str, Any] = {
        "MetricDataQueries": [to_query(measure, query_id, window) for query_id, measure in ids.items()],
        "StartTime": window.start, "EndTime": window.end, "ScanBy": "TimestampAscending",
    }
    while True:
        answer = client.get_metric_data(**params)
        for result in answer.get("MetricDataResults", []):
            stamps[result["Id"]].extend(result.get("Timestamps", []))
            values[result["Id"]].extend(result.get("Values", []))
        if not answer.get("NextToken"):
            break
        params["NextToken"] = answer["NextToken"]
    return [(measure, stamps[query_id], values[query_id]) for query_id, measure in ids.items()]

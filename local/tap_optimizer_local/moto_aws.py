"""moto in server mode, extended where it falls short of what the analysis uses in real AWS.

The extensions are test fixtures, named as such; the product code is the code that talks to real
AWS and does not know it runs against moto:
- CloudWatch GetMetricData (`IndexedCloudWatch`): moto fails a whole call on percentile
  statistics (`p95`), scans every stored datapoint for every period (minutes per query at 60 days
  of data), ignores the 500-query limit and never paginates. Here datapoints are indexed by
  metric, percentiles are computed (weighted nearest rank over raw values), more than 500 queries
  are refused as CloudWatch refuses them, and answers are paginated by `MaxDatapoints` (100,800 by
  default) with a `NextToken`, so the client's batching and paging are really exercised.
  GetMetricData also evaluates metric math (`cloudwatch_math`: arithmetic over other queries'
  ids, a division by zero dropped with CloudWatch's ArithmeticError message), honours
  `ReturnData` and `Label`, and answers `PartialData` for the next `PARTIAL["GetMetricData"]`
  calls, so the gates' CloudWatch provider is exercised end to end.
- DynamoDB DescribeKinesisStreamingDestination is not implemented in moto: answered from
  `KINESIS_DESTINATIONS`, which the fixture builder fills.
- Auto Scaling StartInstanceRefresh, DescribeInstanceRefreshes and CancelInstanceRefresh are not
  implemented in moto: answered here with the API's shapes (botocore's model), kept per account and
  region in moto's Auto Scaling backend (so `/moto-api/reset` clears them). A refresh is
  `InProgress` (its PercentageComplete and InstancesToUpdate follow the time it has run) for
  `REFRESH["seconds"]` after it starts, then `Successful`, or `Failed` with `REFRESH["fails"]` as
  its StatusReason when that is set (or the values `start_refresh` is given, which is how the
  Crossplane stand-in starts one per group). As in AWS, a group has at most one active refresh
  (StartInstanceRefresh answers InstanceRefreshInProgress) and the answer lists the newest first.
  Unlike AWS, the group need not exist in moto: the Crossplane stand-in's groups exist only there.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import datetime as dt
import json
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.autoscaling import models as asg_models
from moto.autoscaling import responses as asg_responses
from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import CloudWatchException, ValidationError
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult
from moto.dynamodb import responses as ddb_responses
from moto.server import ThreadedMotoServer

from tap_optimizer_local import cloudwatch_math
from tap_optimizer_local.processes import free_port

ACCOUNT = "123456789012"
MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
KINESIS_DESTINATIONS: dict[tuple[str, str], list[dict[str, str]]] = {}  # (region, table) -> destinations
THROTTLE = {"GetMetricData": 0}  # how many of the next GetMetricData calls CloudWatch throttles
PARTIAL = {"GetMetricData": 0}  # how many of the next GetMetricData calls answer PartialData
REFRESH: dict[str, Any] = {"seconds": 0.0, "fails": None}  # how StartInstanceRefresh's refreshes end
REFRESH_DEFAULTS = dict(REFRESH)
WARMING = "Waiting for instances to warm up before continuing. For example: {} is warming up."
_REFRESH_LOCK = threading.Lock()  # the stand-in's thread and the server's start and read refreshes
_INDEX_LOCK = threading.Lock()  # the server answers requests in threads; one of them indexes at a time


@dataclass
class Series:
    """One metric's datapoints in time order: epoch seconds, sum, sample count, min, max."""

    stamps: list[float] = field(default_factory=list)
    rows: list[tuple[float, float, float, float]] = field(default_factory=list)


def _epoch(stamp: dt.datetime) -> float:
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)).timestamp()


def _key(namespace: str, name: str, dimensions: Any) -> tuple:
    return namespace, name, frozenset((d.name, d.value) if hasattr(d, "name") else (d["Name"], d["Value"])
                                      for d in dimensions)


def _row(datum: Any) -> tuple[float, float, float, float]:
    if isinstance(datum, cw_models.MetricDatum):
        return datum.value, 1.0, datum.value, datum.value
    return datum.sum, datum.sample_count, datum.min, datum.max


class IndexedCloudWatch:
    """The datapoints of one moto CloudWatch backend, indexed by (namespace, name, dimensions)."""

    def __init__(self) -> None:
        self.seen = 0
        self.series: dict[tuple, Series] = collections.defaultdict(Series)

    def refresh(self, data: list[Any]) -> None:
        """Index what was stored since the last look (moto appends to one list)."""
        if len(data) == self.seen:
            return
        touched = set()
        for datum in data[self.seen:]:
            key = _key(datum.namespace, datum.name, datum.dimensions)
            series = self.series[key]
            series.stamps.append(_epoch(datum.timestamp))
            series.rows.append(_row(datum))
            touched.add(key)
        for key in touched:
            series = self.series[key]
            order = sorted(range(len(series.stamps)), key=series.stamps.__getitem__)
            series.stamps = [series.stamps[i] for i in order]
            series.rows = [series.rows[i] for i in order]
        self.seen = len(data)

    def answer(self, query: dict[str, Any], start: float, end: float) -> tuple[list[dt.datetime], list[float]]:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        series = self.series.get(_key(metric["Namespace"], metric["MetricName"], metric.get("Dimensions", [])))
        stamps: list[dt.datetime] = []
        values: list[float] = []
        period = int(stat["Period"])
        slot = start
        while series is not None and slot < end:
            lo = bisect.bisect_left(series.stamps, slot)
            hi = bisect.bisect_left(series.stamps, min(slot + period, end))
            if hi > lo:
                stamps.append(dt.datetime.fromtimestamp(slot, dt.UTC))
                values.append(statistic(stat["Stat"], series.rows[lo:hi]))
            slot += period
        return stamps, values


def statistic(name: str, rows: list[tuple[float, float, float, float]]) -> float:
    total, count = sum(r[0] for r in rows), sum(r[1] for r in rows)
    simple = {"Sum": lambda: total, "SampleCount": lambda: count, "Average": lambda: total / count,
              "Minimum": lambda: min(r[2] for r in rows), "Maximum": lambda: max(r[3] for r in rows)}
    if name in simple:
        return simple[name]()
    if name.startswith("p"):
        return percentile(float(name[1:]), rows)
    raise ValidationError(f"The value {name} for parameter MetricDataQueries.member.Stat is not supported.")


def percentile(p: float, rows: list[tuple[float, float, float, float]]) -> float:
    """Weighted nearest rank; a statistic set counts as `count` samples at its average."""
    weighted = sorted((r[0] / r[1], r[1]) for r in rows if r[1])
    rank = p / 100 * sum(w for _, w in weighted)
    seen = 0.0
    for value, weight in weighted:
        seen += weight
        if seen >= rank:
            return value
    return weighted[-1][0]


def _indexed_get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: dt.datetime,
                             end_time: dt.datetime, scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
    start, end = _epoch(start_time), _epoch(end_time)
    if start >= end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    with _INDEX_LOCK:
        index = self.__dict__.setdefault("_tap_index", IndexedCloudWatch())
        index.refresh(self.metric_data)
        stats = {q["Id"]: index.answer(q, start, end) for q in queries if "MetricStat" in q}
    series = {query_id: dict(zip([_epoch(s) for s in stamps], values, strict=True))
              for query_id, (stamps, values) in stats.items()}
    try:
        evaluated = cloudwatch_math.evaluate_all({q["Id"]: q["Expression"] for q in queries if "Expression" in q},
                                                 series)
    except cloudwatch_math.ExpressionError as error:
        raise ValidationError(f"Error in expression: {error}") from None
    results = []
    for query in queries:
        if str(query.get("ReturnData", True)).lower() == "false":
            continue
        found = evaluated[query["Id"]].series if query["Id"] in evaluated else series[query["Id"]]
        stamps = sorted(found, reverse=scan_by == "TimestampDescending")
        default_label = query["MetricStat"]["Metric"]["MetricName"] if "MetricStat" in query else query["Id"]
        result = {"id": query["Id"], "label": query.get("Label") or default_label,
                  "values": [found[s] for s in stamps],
                  "timestamps": [dt.datetime.fromtimestamp(s, dt.UTC) for s in stamps], "status_code": "Complete"}
        if query["Id"] in evaluated and evaluated[query["Id"]].dropped:
            result["messages"] = [{"code": "ArithmeticError", "value": cloudwatch_math.DROPPED}]
        results.append(result)
    return results


def page(results: list[dict[str, Any]], offset: int, size: int) -> tuple[list[dict[str, Any]], int | None]:
    """The datapoints [offset, offset + size) across results in order; every result on the first page."""
    out, position = [], 0
    for result in results:
        n = len(result["values"])
        lo, hi = max(offset - position, 0), min(offset + size - position, n)
        if hi > lo or (offset == 0 and n == 0):
            out.append({**result, "values": result["values"][lo:hi], "timestamps": result["timestamps"][lo:hi]})
        position += n
    return out, (offset + size if offset + size < position else None)


def _paged_get_metric_data(self: Any) -> ActionResult:
    if THROTTLE["GetMetricData"] > 0:
        THROTTLE["GetMetricData"] -= 1
        raise CloudWatchException("Throttling", "Rate exceeded")
    params = self._get_params()
    queries = params.get("MetricDataQueries", [])
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    results = self.cloudwatch_backend.get_metric_data(queries=queries, start_time=params["StartTime"],
                                                      end_time=params["EndTime"],
                                                      scan_by=params.get("ScanBy") or "TimestampDescending")
    chunk, next_offset = page(results, int(params.get("NextToken") or 0),
                              int(params.get("MaxDatapoints") or MAX_DATAPOINTS))
    if PARTIAL["GetMetricData"] > 0:
        PARTIAL["GetMetricData"] -= 1
        chunk = [{**result, "status_code": "PartialData"} for result in chunk]
    answer: dict[str, Any] = {"MetricDataResults": chunk}
    if next_offset is not None:
        answer["NextToken"] = str(next_offset)
    return ActionResult(answer)


def _describe_kinesis_streaming_destination(self: Any) -> ActionResult:
    name = self.body["TableName"]
    return ActionResult({"TableName": name, "KinesisDataStreamDestinations": KINESIS_DESTINATIONS.get(
        (self.region, name), [])})


class InstanceRefreshInProgressError(ServiceException):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFoundError(ServiceException):
    code = "ActiveInstanceRefreshNotFound"


@dataclass
class InstanceRefresh:
    """One instance refresh of a group: how long it runs and how it ends are set when it starts."""

    group: str
    started: dt.datetime
    seconds: float
    fails: str | None
    strategy: str = "Rolling"
    preferences: dict[str, Any] = field(default_factory=dict)
    desired: dict[str, Any] | None = None
    to_update: int = 2
    ident: str = field(default_factory=lambda: str(uuid.uuid4()))
    cancelled: dt.datetime | None = None

    def ended(self, now: dt.datetime) -> dt.datetime | None:
        finish = self.started + dt.timedelta(seconds=self.seconds)
        return self.cancelled or (finish if now >= finish else None)

    def status(self, now: dt.datetime) -> str:
        if self.cancelled is not None:
            return "Cancelled"
        if self.ended(now) is None:
            return "InProgress"
        return "Successful" if self.fails is None else "Failed"

    def answer(self, now: dt.datetime) -> dict[str, Any]:
        """As DescribeInstanceRefreshes describes it (the InstanceRefresh shape)."""
        status, end = self.status(now), self.ended(now)
        elapsed = ((end or now) - self.started).total_seconds()
        percent = 100 if status == "Successful" else min(99, int(100 * elapsed / self.seconds)) if self.seconds else 0
        left = round(self.to_update * (100 - percent) / 100)
        out: dict[str, Any] = {"InstanceRefreshId": self.ident, "AutoScalingGroupName": self.group,
                               "Status": status, "StartTime": self.started, "PercentageComplete": percent,
                               "InstancesToUpdate": left, "Strategy": self.strategy,
                               "Preferences": self.preferences,
                               "ProgressDetails": {"LivePoolProgress": {"PercentageComplete": percent,
                                                                        "InstancesToUpdate": left}}}
        if status == "InProgress":
            out["StatusReason"] = WARMING.format(f"i-{self.ident.replace('-', '')[:17]}")
        if status == "Failed":
            out["StatusReason"] = self.fails
        if end is not None:
            out["EndTime"] = end
        if self.desired:
            out["DesiredConfiguration"] = self.desired
        return out


def _refreshes(backend: Any) -> dict[str, list[InstanceRefresh]]:
    """A backend's refreshes by group, oldest first (stored on the backend, so a reset clears them)."""
    return backend.__dict__.setdefault("_tap_refreshes", {})


def start_refresh(backend: Any, group: str, seconds: float, fails: str | None, *, strategy: str = "Rolling",
                  preferences: dict[str, Any] | None = None, desired: dict[str, Any] | None = None) -> str:
    """StartInstanceRefresh on one moto Auto Scaling backend: a refresh that runs `seconds`, then
    fails with StatusReason `fails`, or succeeds when that is None; its id."""
    now = dt.datetime.now(dt.UTC)
    with _REFRESH_LOCK:
        found = _refreshes(backend).setdefault(group, [])
        active = [r for r in found if r.ended(now) is None]
        if active:
            raise InstanceRefreshInProgressError(f"An Instance Refresh is already in progress and blocks the "
                                                 f"execution of this Instance Refresh. ({active[-1].ident})")
        refresh = InstanceRefresh(group, now, seconds, fails, strategy, preferences or {}, desired)
        found.append(refresh)
    return refresh.ident


def cancel_refresh(backend: Any, group: str) -> str:
    """CancelInstanceRefresh: the group's active refresh is Cancelled; its id."""
    now = dt.datetime.now(dt.UTC)
    with _REFRESH_LOCK:
        active = [r for r in _refreshes(backend).get(group, []) if r.ended(now) is None]
        if not active:
            raise ActiveInstanceRefreshNotFoundError("No in progress or pending Instance Refresh found for Auto "
                                                     f"Scaling group {group}")
        active[-1].cancelled = now
        return active[-1].ident


def describe_refreshes(backend: Any, group: str, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """The group's refreshes, newest first, as InstanceRefresh shapes."""
    now = dt.datetime.now(dt.UTC)
    with _REFRESH_LOCK:
        found = list(reversed(_refreshes(backend).get(group, [])))
    return [r.answer(now) for r in found if not ids or r.ident in ids]


def _start_instance_refresh(self: Any) -> ActionResult:
    params = self._get_params()
    ident = start_refresh(self.autoscaling_backend, params["AutoScalingGroupName"], REFRESH["seconds"],
                          REFRESH["fails"], strategy=params.get("Strategy") or "Rolling",
                          preferences=params.get("Preferences"), desired=params.get("DesiredConfiguration"))
    return ActionResult({"InstanceRefreshId": ident})


def _cancel_instance_refresh(self: Any) -> ActionResult:
    return ActionResult({"InstanceRefreshId": cancel_refresh(self.autoscaling_backend,
                                                             self._get_param("AutoScalingGroupName"))})


def _describe_instance_refreshes(self: Any) -> ActionResult:
    params = self._get_params()
    found = describe_refreshes(self.autoscaling_backend, params["AutoScalingGroupName"],
                               params.get("InstanceRefreshIds"))
    chunk, next_offset = page_items(found, int(params.get("NextToken") or 0), int(params.get("MaxRecords") or 50))
    answer: dict[str, Any] = {"InstanceRefreshes": chunk}
    if next_offset is not None:
        answer["NextToken"] = str(next_offset)
    return ActionResult(answer)


def page_items(items: list[Any], offset: int, size: int) -> tuple[list[Any], int | None]:
    return items[offset:offset + size], (offset + size if offset + size < len(items) else None)


@contextlib.contextmanager
def extended_moto() -> Iterator[None]:
    """Install the extensions for the duration of a test session (the server runs in-process)."""
    patches = [(cw_models.CloudWatchBackend, "get_metric_data", _indexed_get_metric_data),
               (cw_responses.CloudWatchResponse, "get_metric_data", _paged_get_metric_data),
               (ddb_responses.DynamoHandler, "describe_kinesis_streaming_destination",
                _describe_kinesis_streaming_destination),
               (asg_responses.AutoScalingResponse, "start_instance_refresh", _start_instance_refresh),
               (asg_responses.AutoScalingResponse, "describe_instance_refreshes", _describe_instance_refreshes),
               (asg_responses.AutoScalingResponse, "cancel_instance_refresh", _cancel_instance_refresh)]
    saved = [(cls, name, cls.__dict__.get(name)) for cls, name, _ in patches]
    for cls, name, function in patches:
        setattr(cls, name, function)
    try:
        yield
    finally:
        for cls, name, original in saved:
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)


@dataclass
class Moto:
    """A running moto server and what tests need to reach it."""

    url: str
    server: ThreadedMotoServer

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name="us-east-1")

    def cloudwatch_backend(self, region: str) -> Any:
        return cw_models.cloudwatch_backends[ACCOUNT][region]

    def autoscaling_backend(self, region: str) -> Any:
        return asg_models.autoscaling_backends[ACCOUNT][region]

    def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).close()

    def queue_costs(self, results: list[dict[str, Any]]) -> None:
        """Queue Cost Explorer answers: each GetCostAndUsage with new parameters takes the next one."""
        self._post("/moto-api/static/ce/cost-and-usage-results", {"results": results})

    def reset(self) -> None:
        self._post("/moto-api/reset")
        KINESIS_DESTINATIONS.clear()
        THROTTLE["GetMetricData"] = 0
        PARTIAL["GetMetricData"] = 0
        REFRESH.update(REFRESH_DEFAULTS)


@contextlib.contextmanager
def moto_server() -> Iterator[Moto]:
    with extended_moto():
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield Moto(f"http://127.0.0.1:{port}", server)
        finally:
            server.stop()

"""The Amazon CloudWatch gate provider: each gate metric is one GetMetricData call (metric
statistics and metric math), made off the event loop through the analysis' boto3 clients
(botocore's adaptive retries); judging is `evaluate`'s.

Series: every query of the metric that returns data (its MetricDataResult) is one series,
labelled `{label="<its label, or its id>"}`; the queries named in `volume` are the traffic, by
the same labels. Values:
- a check's value is the latest datapoint among the last `LOOKBACK_PERIODS` complete periods
  (CloudWatch publishes a period a minute or so after it ends; older than that is no data);
- a baseline is the statistic over the whole baseline window (one period as long as the window,
  rounded down to a period CloudWatch takes: the window's real p99, its real error ratio), and its
  traffic the window's per-period average, a period without data counting as none; with
  compareWithLastWeek, the same a week earlier.

Never raises to its caller: a refused query (ValidationError, InvalidParameter*) is
`QueryRejected` (the preflight fails the plan before any change); throttling, a server error or
an endpoint that does not answer is `Unreachable`; missing or refused credentials are
`AccessError`; an answer that is not whole (a result's StatusCode other than Complete, or any
message, such as datapoints dropped for dividing by zero) is `PartialResponse`, quoting it. Each
call that ends without an answer is counted in tap_optimizer_errors_total{system="aws"}.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.gates.evaluate import Series
from tap_optimizer.gates.provider import Answer, Measurement
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import Cause
from tap_optimizer.plan.spec import CLOUDWATCH_SHORT_PERIODS, CloudWatchMetric, CloudWatchQuery, GateMetric, Gates

LOOKBACK_PERIODS = 3
RETRIES = 2  # after the first try (botocore's max_attempts); a check must not outlast its interval
TIMEOUT_SECONDS = 10.0  # connect and read, per try
WEEK = 7 * 86400
REJECTED = frozenset({"ValidationError", "MissingParameter", "InvalidNextToken"})  # and InvalidParameter*
ACCESS = frozenset({"AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidClientTokenId",
                    "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch", "InvalidSignatureException",
                    "IncompleteSignature", "MissingAuthenticationToken", "NotAuthorized", "OptInRequired"})


class CloudWatchGates:
    """The boto3 clients shared by every plan's CloudWatch provider, one per region."""

    def __init__(self, aws: Aws | None = None) -> None:
        self._aws = aws or Aws(max_attempts=RETRIES, timeout=TIMEOUT_SECONDS)

    def provider(self, gates: Gates) -> CloudWatchProvider:
        assert gates.cloudwatch is not None, "the plan gates on CloudWatch"
        return CloudWatchProvider(self._aws, gates.cloudwatch.region, gates.cloudwatch.period)


@dataclass(frozen=True)
class Result:
    """One MetricDataResult: its query's id, its label and its datapoints, newest first."""

    id: str
    label: str
    values: tuple[float, ...]


@dataclass(frozen=True)
class Reply:
    """One GetMetricData call's results, or why there are none (or why they are not whole)."""

    results: tuple[Result, ...] = ()
    error: str = ""
    cause: Cause = ""

    def answer(self, ids: tuple[str, ...], reduce: Callable[[tuple[float, ...]], float]) -> Answer:
        """The results of the queries `ids` as series, each reduced to one value; a result without
        datapoints is no series (no data)."""
        series: Series = [({"label": r.label}, float(reduce(r.values))) for r in self.results
                          if r.id in ids and r.values]
        return Answer(series, self.error, self.cause)


class CloudWatchProvider:
    """GetMetricData for one plan's gate metrics, in one region, at one period."""

    def __init__(self, aws: Aws, region: str, period: int) -> None:
        self._aws, self._region, self._period = aws, region, period

    async def measure(self, metric: GateMetric, at: float) -> Measurement:
        cloudwatch = metric.cloudwatch
        if cloudwatch is None:
            return _not_cloudwatch(metric)
        end = _aligned(at, self._period)
        reply = await self._call(cloudwatch.queries, (*cloudwatch.series_ids, *cloudwatch.volume), self._period,
                                 end - LOOKBACK_PERIODS * self._period, end)
        return Measurement(reply.answer(cloudwatch.series_ids, latest),
                           reply.answer(cloudwatch.volume, latest) if cloudwatch.volume else None)

    async def measure_baseline(self, metric: GateMetric, window: float, at: float,
                               last_week: bool) -> list[Measurement]:
        cloudwatch = metric.cloudwatch
        if cloudwatch is None:
            return [_not_cloudwatch(metric)]
        ends = [at, at - WEEK] if last_week else [at]
        return list(await asyncio.gather(*(self._baseline(cloudwatch, window, end) for end in ends)))

    async def _baseline(self, cloudwatch: CloudWatchMetric, window: float, at: float) -> Measurement:
        """The series at one period spanning the window; the traffic per period, averaged over it."""
        span = baseline_period(window, self._period)
        end = _aligned(at, self._period)
        calls = [self._call(cloudwatch.queries, cloudwatch.series_ids, span, end - span, end)]
        if cloudwatch.volume:
            calls.append(self._call(cloudwatch.queries, cloudwatch.volume, self._period, end - span, end))
        series, *volume = await asyncio.gather(*calls)
        periods = span // self._period
        return Measurement(series.answer(cloudwatch.series_ids, latest),
                           volume[0].answer(cloudwatch.volume, lambda values: sum(values) / periods)
                           if volume else None)

    async def _call(self, queries: tuple[CloudWatchQuery, ...], returned: tuple[str, ...], period: int,
                    start: float, end: float) -> Reply:
        """One GetMetricData, through every NextToken page, with the queries `returned` returning data."""
        request = {"MetricDataQueries": [to_query(q, q.id in returned, period) for q in queries],
                   "StartTime": dt.datetime.fromtimestamp(start, dt.UTC),
                   "EndTime": dt.datetime.fromtimestamp(end, dt.UTC), "ScanBy": "TimestampDescending"}
        try:
            pages = await asyncio.to_thread(self._pages, request)
        except Exception as error:  # never raises: every failure is an answer with a cause
            METRICS.error("aws")
            return Reply((), *classify(error, self._region))
        return _reply(pages, self._region)

    def _pages(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        client = self._aws.client("cloudwatch", self._region)
        pages = [client.get_metric_data(**request)]
        while pages[-1].get("NextToken"):
            pages.append(client.get_metric_data(**request, NextToken=pages[-1]["NextToken"]))
        return pages


def _not_cloudwatch(metric: GateMetric) -> Measurement:
    """A PromQL metric asked of CloudWatch (spec validation refuses such a plan): never an exception."""
    return Measurement(Answer.failed(f"{metric.name} has no CloudWatch queries (spec.gates.metrics[].cloudwatch)",
                                     "QueryRejected"))


def to_query(query: CloudWatchQuery, returned: bool, period: int) -> dict[str, Any]:
    """One MetricDataQuery; every query carries its label, so each result is labelled as the plan says."""
    out: dict[str, Any] = {"Id": query.id, "Label": query.label, "ReturnData": returned}
    if query.expression is not None:
        return {**out, "Expression": query.expression, "Period": period}
    stat = query.metric_stat
    assert stat is not None, "a query is a metricStat or an expression"
    metric = {"Namespace": stat.namespace, "MetricName": stat.metric_name,
              "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions]}
    return {**out, "MetricStat": {"Metric": metric, "Period": period, "Stat": stat.stat,
                                  **({"Unit": stat.unit} if stat.unit else {})}}


def baseline_period(window: float, period: int) -> int:
    """The longest period CloudWatch takes that fits in the window and is a whole number of `period`s."""
    if period >= 60:
        return max(period, int(window) // period * period)
    if window >= 60:
        return int(window) // 60 * 60
    return max(p for p in CLOUDWATCH_SHORT_PERIODS if p <= max(window, period) and p % period == 0)


def _aligned(at: float, period: int) -> float:
    """The end of the latest complete period at `at`."""
    return at // period * period


def latest(values: tuple[float, ...]) -> float:
    return values[0]


def _reply(pages: list[dict[str, Any]], region: str) -> Reply:
    """Each result's datapoints, newest first, across pages; an answer that is not whole says why."""
    points: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = {}
    problems: list[str] = []
    for page in pages:
        problems += [f"{m.get('Code')}: {m.get('Value')}" for m in page.get("Messages") or []]
        for result in page.get("MetricDataResults", []):
            key = (result["Id"], result.get("Label") or result["Id"])
            points.setdefault(key, []).extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
            problems += [f"{result['Id']}: {m.get('Code')}: {m.get('Value')}" for m in result.get("Messages") or []]
            if result.get("StatusCode", "Complete") != "Complete" and page is pages[-1]:
                problems.append(f"{result['Id']}: StatusCode {result['StatusCode']}")
    results = tuple(Result(query_id, label, tuple(v for _, v in sorted(found, key=lambda p: p[0], reverse=True)))
                    for (query_id, label), found in points.items())
    if problems:
        return Reply(results, f"CloudWatch in {region} answered partially: {'; '.join(dict.fromkeys(problems))}",
                     "PartialResponse")
    return Reply(results)


def classify(error: Exception, region: str, service: str = "CloudWatch") -> tuple[str, Cause]:
    """Why a call has no answer, as an Inconclusive reason and its cause."""
    where = f"{service} in {region}"
    if isinstance(error, botocore.exceptions.ClientError):
        return _client_error(error, where)
    if isinstance(error, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError
                  | botocore.exceptions.CredentialRetrievalError):
        return f"no AWS credentials for {where}: {error}", "AccessError"
    if isinstance(error, botocore.exceptions.ConnectTimeoutError | botocore.exceptions.ReadTimeoutError):
        return f"{where} did not answer within {TIMEOUT_SECONDS:g} s: {error}", "Unreachable"
    if isinstance(error, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionClosedError):
        return f"{where} is unreachable: {error}", "Unreachable"
    return f"{where} failed: {error!r}", "Unreachable"


def _client_error(error: botocore.exceptions.ClientError, where: str) -> tuple[str, Cause]:
    """An error answer: the query's own fault, the credentials', or the service's (after retries)."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    if code in REJECTED or code.startswith("InvalidParameter"):
        return f"{where} rejected the query: {code}: {message}", "QueryRejected"
    return f"{where} answered {code}: {message}", "AccessError" if code in ACCESS else "Unreachable"

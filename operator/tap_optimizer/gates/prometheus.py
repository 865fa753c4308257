"""The Prometheus side of the gates: instant queries over the HTTP API, one round trip per
query, all of a check's queries at once over one shared session; judging is `evaluate`'s.

Never raises to its caller: an unreachable server, a timeout, an HTTP or PromQL error, a body that
is not the API's JSON or an unexpected result type becomes an Inconclusive verdict saying what
happened (the state machine holds, counts and eventually rolls back; it never proceeds on it).
Each query that ends without an answer is counted in tap_optimizer_errors_total{system="prometheus"}.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from tap_optimizer.gates import evaluate
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import GateVerdict, MetricResult
from tap_optimizer.plan.spec import GateMetric, Gates

RETRIES = 2  # after the first attempt, on connection errors and 5xx only
BACKOFF_SECONDS = 0.2  # doubled after each retry
BASELINE_SAMPLES = 30  # subquery steps per baseline window
LAST_WEEK = " offset 1w"

logger = logging.getLogger(__name__)


class QueryError(Exception):
    """Why a query has no answer; becomes an Inconclusive reason. `retryable` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Access:
    """How to reach one Prometheus: a bearer token and a CA bundle (PEM), both from Secrets."""

    token: str | None = None
    ca: str | None = None

    def tls(self, gates: Gates) -> ssl.SSLContext | bool:
        """Verify with the given CA, with the system's, or (insecureSkipVerify) not at all."""
        if gates.insecure_skip_verify:
            return False
        return ssl.create_default_context(cadata=self.ca) if self.ca else True


NO_ACCESS = Access()


class PrometheusGates:
    """Baselines and checks of a plan's gate metrics, over one HTTP session shared by all plans."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> PrometheusGates:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def baseline(self, gates: Gates, access: Access = NO_ACCESS) -> dict[str, Any]:
        """Each metric's value per series averaged over the baseline window ending now (and, with
        compareWithLastWeek, the same window a week earlier: per series the larger, the worse).
        JSON-ready for the plan's status. A metric without data has no entry, never a made-up 0."""
        at = time.time()
        found = await asyncio.gather(*(self._metric_baseline(gates, m, access, at) for m in gates.metrics))
        return {metric.name: values for metric, values in zip(gates.metrics, found, strict=True) if values}

    async def check(self, gates: Gates, baseline: dict[str, Any], access: Access = NO_ACCESS) -> GateVerdict:
        """Every metric now, concurrently; Fail if any fails, Inconclusive if any cannot be judged."""
        at = time.time()  # one evaluation time for every query of this check
        results = await asyncio.gather(*(
            self._check_metric(gates, m, evaluate.stored_baseline(baseline.get(m.name)), access, at)
            for m in gates.metrics))
        return evaluate.gate_verdict(list(results))

    async def _metric_baseline(self, gates: Gates, metric: GateMetric, access: Access,
                               at: float) -> dict[str, float]:
        answers = await asyncio.gather(*(self._answer(gates, q, access, at) for q in baseline_queries(gates, metric)))
        worst: dict[str, float] = {}
        for answer in answers:
            if isinstance(answer, QueryError):
                logger.warning("no baseline from Prometheus for gate metric %s: %s", metric.name, answer)
            else:
                worst = evaluate.worse_baseline(worst, evaluate.baseline_of(answer))
        return worst

    async def _check_metric(self, gates: Gates, metric: GateMetric, baseline: dict[str, float], access: Access,
                            at: float) -> MetricResult:
        queries = [metric.query, *([metric.volume_query] if metric.volume_query else [])]
        series, *volume = await asyncio.gather(*(self._answer(gates, q, access, at) for q in queries))
        for what, answer in zip(("", "volume query: "), (series, *volume), strict=False):
            if isinstance(answer, QueryError):
                return MetricResult(metric.name, "Inconclusive", f"{metric.name}: {what}{answer}", query=metric.query)
        return evaluate.judge(metric, series, volume[0] if volume else None, baseline)

    async def _answer(self, gates: Gates, promql: str, access: Access, at: float) -> evaluate.Series | QueryError:
        """The query's series, or why there are none, after retrying what may pass on a second try."""
        attempt = 0
        while True:
            try:
                return await self._round_trip(gates, promql, access, at)
            except QueryError as error:
                if not error.retryable or attempt == RETRIES:
                    METRICS.error("prometheus")
                    return error
            await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
            attempt += 1

    async def _round_trip(self, gates: Gates, promql: str, access: Access, at: float) -> evaluate.Series:
        """One instant query over HTTP. A timeout is not retried: a slow server is no faster twice."""
        url, server = f"{gates.prometheus_url}/api/v1/query", f"Prometheus at {gates.prometheus_url}"
        try:
            async with self._client().get(
                    url, params={"query": promql, "time": f"{at:.3f}"},
                    headers={"Authorization": f"Bearer {access.token}"} if access.token else {},
                    timeout=aiohttp.ClientTimeout(total=gates.timeout),
                    ssl=access.tls(gates)) as response:
                return parse(await _api_data(response))
        except TimeoutError as error:
            raise QueryError(f"{server} did not answer within {gates.timeout:g} s") from error
        except aiohttp.ClientConnectionError as error:
            raise QueryError(f"{server} is unreachable: {error}", retryable=True) from error
        except aiohttp.ClientError as error:
            raise QueryError(f"{server} failed: {error}") from error

    def _client(self) -> aiohttp.ClientSession:
        """The shared session, made on first use (aiohttp wants it made inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session


def baseline_queries(gates: Gates, metric: GateMetric) -> list[str]:
    """The metric averaged over the baseline window ending now (and a week earlier), as subqueries.

    Steps without a value are left out of the average: empty ones by PromQL, NaN ones (a ratio's
    0/0 in a quiet minute) by the `>= -Inf` filter; one NaN step would make the whole average NaN
    and lose the baseline. A scalar query has no baseline: PromQL subqueries take vectors only."""
    window = max(1, int(gates.baseline_window))
    step = max(1, window // BASELINE_SAMPLES)
    offsets = ["", LAST_WEEK] if gates.compare_with_last_week else [""]
    return [f"avg_over_time((({metric.query}) >= -Inf)[{window}s:{step}s]{offset})" for offset in offsets]


async def _api_data(response: aiohttp.ClientResponse) -> Any:
    """The `data` of a successful API answer; anything else is a QueryError (5xx retryable)."""
    retryable = response.status >= 500
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        raise QueryError(f"Prometheus answered HTTP {response.status}, not with its API's JSON", retryable=retryable)
    if body["status"] != "success":
        raise QueryError(f"Prometheus answered HTTP {response.status}: {body.get('errorType')}: {body.get('error')}",
                         retryable=retryable)
    return body.get("data")


def parse(data: Any) -> evaluate.Series:
    """The `data` of an instant query as (labels, value) pairs: a vector's series or a scalar."""
    kind = data.get("resultType") if isinstance(data, dict) else None
    try:
        if kind == "vector":
            return [(item.get("metric") or {}, float(item["value"][1])) for item in data["result"] or []]
        if kind == "scalar":
            return [({}, float(data["result"][1]))]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        raise QueryError(f"Prometheus answered a malformed {kind}: {error!r}") from None
    raise QueryError(f"expected an instant vector or scalar, got {kind}")

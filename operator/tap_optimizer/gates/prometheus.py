"""The Prometheus side of the gates: instant queries over the HTTP API, one round trip per
query, all of a check's queries at once over one shared session.

Never raises to its caller: an unreachable server, a timeout, an HTTP or PromQL error or an
unexpected result type becomes an Inconclusive verdict saying what happened.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import aiohttp

from tap_optimizer.gates import evaluate
from tap_optimizer.plan.model import GateVerdict, MetricResult
from tap_optimizer.plan.spec import GateMetric, Gates

RETRIES = 2
BACKOFF_SECONDS = 0.2
WEEK = "1w"


class QueryError(Exception):
    """Why a query has no answer; becomes an Inconclusive reason."""


class PrometheusGates:
    """Baselines and checks of a plan's gate metrics against one or more Prometheus servers."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0  # HTTP requests sent, for the operator's metrics and benchmarks

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def query(self, gates: Gates, promql: str, token: str | None, at: float | None = None) -> evaluate.Series:
        """An instant query's vector or scalar, as (labels, value) pairs."""
        params = {"query": promql, "time": f"{at if at is not None else time.time():.3f}"}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        tls = not gates.insecure_skip_verify
        last = "no attempt"
        for attempt in range(RETRIES + 1):
            try:
                return await self._once(gates, params, headers, tls)
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                last = f"Prometheus at {gates.prometheus_url} is unreachable: {type(error).__name__} {error}".strip()
            except QueryError as error:
                if "HTTP 5" not in str(error):
                    raise
                last = str(error)
            await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
        raise QueryError(last)

    async def _once(self, gates: Gates, params: dict[str, str], headers: dict[str, str],
                    tls: bool) -> evaluate.Series:
        self.requests += 1
        timeout = aiohttp.ClientTimeout(total=gates.timeout)
        async with self._client().get(f"{gates.prometheus_url}/api/v1/query", params=params, headers=headers,
                                      timeout=timeout, ssl=tls) as response:
            if response.status >= 400 and response.content_type != "application/json":
                raise QueryError(f"Prometheus answered HTTP {response.status}")
            body = await response.json()
        if body.get("status") != "success":
            error = f"{body.get('errorType')}: {body.get('error')}"
            raise QueryError(f"Prometheus answered HTTP {response.status}: {error}")
        return parse(body["data"])

    async def baseline(self, gates: Gates, token: str | None = None) -> dict[str, Any]:
        """Each metric's value averaged over the baseline window ending now (and, optionally, the
        same window a week earlier: the worse of the two). A metric with no data has no entry."""
        window = int(gates.baseline_window)
        step = max(1, window // 30)
        offsets = ["", f" offset {WEEK}"] if gates.compare_with_last_week else [""]
        out: dict[str, Any] = {}
        for metric in gates.metrics:
            found: dict[str, float] = {}
            for offset in offsets:
                try:
                    series = await self.query(gates, f"avg_over_time(({metric.query})[{window}s:{step}s]{offset})",
                                              token)
                except QueryError:
                    continue
                for key, value in evaluate.baseline_of(series).items():
                    found[key] = max(value, found.get(key, -math.inf))
            if found:
                out[metric.name] = found
        return out

    async def check(self, gates: Gates, baseline: dict[str, Any], token: str | None = None) -> GateVerdict:
        """Every metric now, concurrently; Fail if any fails, Inconclusive if any cannot be judged."""
        results = await asyncio.gather(*(self._check_metric(gates, m, baseline.get(m.name) or {}, token)
                                         for m in gates.metrics))
        return evaluate.verdict(list(results))

    async def _check_metric(self, gates: Gates, metric: GateMetric, baseline: dict[str, float],
                            token: str | None) -> MetricResult:
        try:
            series, volume = await asyncio.gather(
                self.query(gates, metric.query, token),
                self.query(gates, metric.volume_query, token) if metric.volume_query else _none())
        except QueryError as error:
            return MetricResult(metric.name, "Inconclusive", f"{metric.name}: {error}", query=metric.query)
        return evaluate.judge(metric, series, volume, baseline)


async def _none() -> None:
    return None


def parse(data: dict[str, Any]) -> evaluate.Series:
    """Prometheus' `data` of an instant query as (labels, value) pairs."""
    kind = data.get("resultType")
    if kind == "vector":
        return [(item.get("metric") or {}, float(item["value"][1])) for item in data.get("result") or []]
    if kind == "scalar":
        return [({}, float(data["result"][1]))]
    raise QueryError(f"expected an instant vector or scalar, got {kind}")

"""The Prometheus gate provider: instant queries over the HTTP API, one round trip per query,
all of a check's queries at once over one session shared by every plan; judging is `evaluate`'s.

Never raises to its caller: an unreachable server, a timeout, an HTTP or PromQL error, a body that
is not the API's JSON, an unexpected result type or an answer with warnings (partial data: a store
was down) becomes an `Answer` with an error and a cause, which the gates count as Inconclusive (the
state machine holds, counts and rolls back; it never proceeds on it). A query Prometheus refuses
as such (HTTP 400 `bad_data`, 422 `execution`) is `QueryRejected`: the preflight fails the plan on
it before any change. Answers are asked complete (`partial_response=false`, which Thanos and
Cortex-style frontends honour and Prometheus ignores). Each query that ends without an answer is
counted in tap_optimizer_errors_total{system="prometheus"}.

Redirects are never followed: the endpoint is the administrator's (or an allowed host), and a 3xx
pointing elsewhere is an answer that is not Prometheus' (Inconclusive, naming where it pointed).
The session's pool is shared by every plan, so one check holds at most CONCURRENCY of its
connections at a time (its other queries wait their turn, outside their timeout): a plan with
many slow queries cannot make another plan's check wait for a connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp

from tap_optimizer.gates import backtest, evaluate, run
from tap_optimizer.gates.provider import Answer, GateProvider, Measurement, Unavailable
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import Cause, GateVerdict
from tap_optimizer.plan.spec import GateMetric, Gates

RETRIES = 2  # after the first attempt, on connection errors and 5xx only
BACKOFF_SECONDS = 0.2  # doubled after each retry
BASELINE_SAMPLES = 30  # subquery steps per baseline window
LAST_WEEK = " offset 1w"

REJECTED = frozenset({400, 422})  # the query itself: bad_data, execution
POOL = 100  # connections of the session every plan shares (aiohttp's default)
CONCURRENCY = 4  # of them one check uses at a time
HISTORY_CONCURRENCY = 4  # query_range requests in flight at once for a backtest
T = TypeVar("T")


class QueryError(Exception):
    """Why a query has no answer; becomes an Inconclusive reason. `retryable` when trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False, cause: Cause = "Unreachable") -> None:
        super().__init__(message)
        self.retryable, self.cause = retryable, cause


@dataclass(frozen=True)
class Access:
    """How to reach one Prometheus: a bearer token and a CA bundle (PEM), both from Secrets."""

    token: str | None = field(default=None, repr=False)  # never in a log line or an error
    ca: str | None = None

    def tls(self, gates: Gates) -> ssl.SSLContext | bool:
        """Verify with the given CA, with the system's, or (insecureSkipVerify) not at all."""
        if gates.insecure_skip_verify:
            return False
        return ssl.create_default_context(cadata=self.ca) if self.ca else True


NO_ACCESS = Access()


class PrometheusGates:
    """The HTTP session shared by every plan's Prometheus provider, and shortcuts for one check."""

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

    def provider(self, gates: Gates, access: Access = NO_ACCESS) -> GateProvider:
        """The provider for one plan's gates; `Unavailable` when its TLS settings cannot be built."""
        try:
            tls = access.tls(gates)
        except (ssl.SSLError, ValueError, TypeError) as error:  # TypeError: non-ASCII text around the PEM
            return Unavailable(f"the CA bundle for Prometheus at {gates.prometheus_url} is not valid PEM: {error}")
        token = access.token.strip() if access.token else None  # `kubectl create secret --from-file` adds a newline
        return PrometheusProvider(self._client, gates, token or None, tls)

    async def baseline(self, gates: Gates, access: Access = NO_ACCESS) -> dict[str, Any]:
        """Each metric's baseline per series (see `run.baseline`), JSON-ready for the plan's status."""
        return (await run.baseline(self.provider(gates, access), gates, time.time())).values

    async def check(self, gates: Gates, baseline: dict[str, Any], access: Access = NO_ACCESS) -> GateVerdict:
        """Every metric now against a baseline as stored in the plan's status."""
        return await run.check(self.provider(gates, access), gates, run.read_baselines(baseline), time.time())

    def _client(self) -> aiohttp.ClientSession:
        """The shared session, made on first use (aiohttp wants it made inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
        return self._session


class PrometheusProvider:
    """Instant PromQL queries over the HTTP API, one round trip per query, retried when a second
    try may pass; baselines as subquery averages."""

    def __init__(self, session: Callable[[], aiohttp.ClientSession], gates: Gates, token: str | None,
                 tls: ssl.SSLContext | bool) -> None:
        self._session, self._gates, self._token, self._tls = session, gates, token, tls
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self.requests = 0  # HTTP round trips, retries included

    async def measure(self, metric: GateMetric, at: float) -> Measurement:
        return await self._measurement(metric.query, metric.volume_query, at)

    async def measure_baseline(self, metric: GateMetric, window: float, at: float,
                               last_week: bool) -> list[Measurement]:
        offsets = ["", LAST_WEEK] if last_week else [""]
        return list(await asyncio.gather(*(
            self._measurement(average(metric.query, window, offset),
                              average(metric.volume_query, window, offset) if metric.volume_query else None, at)
            for offset in offsets)))

    async def _measurement(self, query: str, volume_query: str | None, at: float) -> Measurement:
        queries = [query, *([volume_query] if volume_query else [])]
        series, *volume = await asyncio.gather(*(self._answer(q, at) for q in queries))
        return Measurement(series, volume[0] if volume else None)

    async def _answer(self, promql: str, at: float) -> Answer:
        """The query's series, or why there are none, after retrying what may pass on a second try."""
        return await self._retrying(lambda: self._round_trip(promql, at), Answer.failed)

    async def query_range(self, promql: str, start: float, end: float, step: float) -> backtest.RangeAnswer:
        """The query evaluated at `start, start + step, ... <= end` (one `query_range`), with the same
        credentials, TLS, timeout and retries as an instant query; never raises."""
        async def once() -> backtest.RangeAnswer:
            params = {"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
            data, warnings = await self._get("query_range", params)
            matrix = parse_matrix(data)
            if warnings:
                return backtest.RangeAnswer(matrix, self._partial(warnings), "PartialResponse")
            return backtest.RangeAnswer(matrix)
        return await self._retrying(once, backtest.RangeAnswer.failed)

    async def _retrying(self, once: Callable[[], Awaitable[T]], failed: Callable[[str, Cause], T]) -> T:
        attempt = 0
        while True:
            try:
                async with self._slots:
                    return await once()
            except QueryError as error:
                if not error.retryable or attempt == RETRIES:
                    METRICS.error("prometheus")
                    return failed(str(error), error.cause)
            await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
            attempt += 1

    async def _round_trip(self, promql: str, at: float) -> Answer:
        """One instant query over HTTP. A timeout is not retried: a slow server is no faster twice."""
        data, warnings = await self._get("query", {"query": promql, "time": f"{at:.3f}"})
        series = parse(data)
        if warnings:
            return Answer(series, self._partial(warnings), "PartialResponse")
        return Answer(series)

    def _partial(self, warnings: list[str]) -> str:
        return f"{self._server} answered with warnings (a partial answer): {'; '.join(warnings)}"

    @property
    def _server(self) -> str:
        return f"Prometheus at {self._gates.prometheus_url}"

    async def _get(self, api: str, params: dict[str, str]) -> tuple[Any, list[str]]:
        """One GET of the HTTP API (`query` or `query_range`): its `data` and `warnings`, or a QueryError."""
        gates, server = self._gates, self._server
        self.requests += 1
        try:
            async with self._session().get(
                    f"{gates.prometheus_url}/api/v1/{api}", params={**params, "partial_response": "false"},
                    headers={"Authorization": f"Bearer {self._token}"} if self._token else {},
                    timeout=aiohttp.ClientTimeout(total=gates.timeout), ssl=self._tls,
                    allow_redirects=False) as response:
                _not_redirected(response, server)
                return await _api_data(response)
        except TimeoutError as error:
            raise QueryError(f"{server} did not answer within {gates.timeout:g} s") from error
        except aiohttp.ClientConnectionError as error:
            raise QueryError(f"{server} is unreachable: {error}", retryable=True) from error
        except (aiohttp.ClientError, OSError) as error:
            raise QueryError(f"{server} failed: {error}") from error


def average(query: str, window: float, offset: str = "") -> str:
    """The query averaged over `window` seconds ending now (or `offset` earlier), as a subquery.

    Steps without a value are left out of the average: empty ones by PromQL, NaN ones (a ratio's
    0/0 in a quiet minute) by the `>= -Inf` filter; one NaN step would make the whole average NaN
    and lose the baseline. A scalar query has no baseline: PromQL subqueries take vectors only."""
    seconds = max(1, int(window))
    step = max(1, seconds // BASELINE_SAMPLES)
    return f"avg_over_time((({query}) >= -Inf)[{seconds}s:{step}s]{offset})"


def _not_redirected(response: aiohttp.ClientResponse, server: str) -> None:
    """A redirect is not followed: it is an answer, and not Prometheus' (the host it points to may
    be one the operator never allowed). Says where it pointed: host and port only."""
    if 300 <= response.status < 400:
        try:
            target = urllib.parse.urlsplit(response.headers.get("Location", ""))
            where = target.hostname and (f"[{target.hostname}]" if ":" in target.hostname else target.hostname)
            where = f"{where}:{target.port}" if where and target.port else where
        except ValueError:
            where = None
        raise QueryError(f"{server} answered HTTP {response.status}, redirected to {where or 'a path of its own'} "
                         "— not followed: a gate endpoint must be the Prometheus HTTP API itself")


async def _api_data(response: aiohttp.ClientResponse) -> tuple[Any, list[str]]:
    """The `data` and `warnings` of a successful API answer; anything else is a QueryError (5xx and
    429 retryable; 400 and 422 the query's own fault)."""
    retryable = response.status >= 500 or response.status == 429
    try:
        body = await response.json(content_type=None)
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        raise QueryError(f"Prometheus answered HTTP {response.status}, not with its API's JSON", retryable=retryable)
    if body["status"] != "success":
        cause: Cause = "QueryRejected" if response.status in REJECTED else "Unreachable"
        raise QueryError(f"Prometheus answered HTTP {response.status}: {body.get('errorType')}: {body.get('error')}",
                         retryable=retryable, cause=cause)
    warnings = body.get("warnings") or []
    return body.get("data"), [str(w) for w in warnings] if isinstance(warnings, list) else [str(warnings)]


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
    raise QueryError(f"expected an instant vector or scalar, got {kind}",
                     cause="QueryRejected" if kind in ("matrix", "string") else "Unreachable")


def parse_matrix(data: Any) -> backtest.Matrix:
    """The `data` of a range query as (labels, [(time, value), ...]) per series."""
    kind = data.get("resultType") if isinstance(data, dict) else None
    if kind != "matrix":
        raise QueryError(f"expected a range vector (matrix) from query_range, got {kind}", cause="QueryRejected")
    try:
        return [(item.get("metric") or {}, [(float(t), float(v)) for t, v in item["values"]])
                for item in data["result"] or []]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise QueryError(f"Prometheus answered a malformed matrix: {error!r}") from None


def history_queries(gates: Gates) -> list[tuple[str, str, str]]:
    """(metric, role, PromQL) of every query a backtest asks over the history: the metric and its
    volume as the live check asks them, and the baseline expressions the live baseline asks."""
    offsets = ["", LAST_WEEK] if gates.compare_with_last_week else [""]
    found = []
    for metric in gates.metrics:
        found.append((metric.name, "query", metric.query))
        if metric.volume_query:
            found.append((metric.name, "volume", metric.volume_query))
        for number, offset in enumerate(offsets):
            found.append((metric.name, f"baseline{number}", average(metric.query, gates.baseline_window, offset)))
            if metric.volume_query:
                found.append((metric.name, f"baselineVolume{number}",
                              average(metric.volume_query, gates.baseline_window, offset)))
    return found


async def fetch_history(provider: GateProvider, gates: Gates, end: float, days: float,
                        progress: Callable[[int, int], None] | None = None,
                        max_points: int = backtest.MAX_POINTS) -> backtest.History:
    """Every query of `history_queries` over the `days` before `end`, and the lead before them that
    their first starts' baselines look back over (`backtest.lead`), at step = interval, in chunks
    of at most `max_points` steps, HISTORY_CONCURRENCY requests at a time. A chunk without an
    answer marks its steps (counted as the live gates count a check that got none)."""
    grid = backtest.Grid.ending(end, days * backtest.DAY + backtest.lead(gates), gates.interval)
    queries = history_queries(gates)
    found = {(name, role): backtest.QueryHistory.empty(promql, grid) for name, role, promql in queries}
    parts = [(name, role, promql, first, last) for name, role, promql in queries
             for first, last in backtest.chunks(grid, max_points)]
    limit, done = asyncio.Semaphore(HISTORY_CONCURRENCY), 0

    async def one(name: str, role: str, promql: str, first: int, last: int) -> None:
        nonlocal done
        async with limit:
            if isinstance(provider, PrometheusProvider):
                answer = await provider.query_range(promql, grid.time(first), grid.time(last), grid.step)
            else:  # a provider that could not be built: every step says why
                reason = await provider.measure(gates.metrics[0], end)
                answer = backtest.RangeAnswer.failed(reason.series.error, reason.series.cause)
        if answer.error:
            found[name, role].fail(first, last, answer.error, answer.cause)
        if not answer.error or answer.cause == "PartialResponse":
            found[name, role].add(grid, answer.matrix)
        done += 1
        if progress is not None:
            progress(done, len(parts))

    await asyncio.gather(*(one(*part) for part in parts))
    metrics = {metric.name: _metric_history(metric, found, gates) for metric in gates.metrics}
    return backtest.History(grid, days, metrics,
                            requests=provider.requests if isinstance(provider, PrometheusProvider) else 0)


def _metric_history(metric: GateMetric, found: dict[tuple[str, str], backtest.QueryHistory],
                    gates: Gates) -> backtest.MetricHistory:
    periods = 2 if gates.compare_with_last_week else 1
    return backtest.MetricHistory(
        found[metric.name, "query"], found.get((metric.name, "volume")),
        tuple((found[metric.name, f"baseline{n}"], found.get((metric.name, f"baselineVolume{n}")))
              for n in range(periods)))

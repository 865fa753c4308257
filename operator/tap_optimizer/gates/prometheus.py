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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tap_optimizer.gates import evaluate, run
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
        attempt = 0
        while True:
            try:
                async with self._slots:
                    return await self._round_trip(promql, at)
            except QueryError as error:
                if not error.retryable or attempt == RETRIES:
                    METRICS.error("prometheus")
                    return Answer.failed(str(error), error.cause)
            await asyncio.sleep(BACKOFF_SECONDS * 2**attempt)
            attempt += 1

    async def _round_trip(self, promql: str, at: float) -> Answer:
        """One instant query over HTTP. A timeout is not retried: a slow server is no faster twice."""
        gates = self._gates
        url, server = f"{gates.prometheus_url}/api/v1/query", f"Prometheus at {gates.prometheus_url}"
        try:
            async with self._session().get(
                    url, params={"query": promql, "time": f"{at:.3f}", "partial_response": "false"},
                    headers={"Authorization": f"Bearer {self._token}"} if self._token else {},
                    timeout=aiohttp.ClientTimeout(total=gates.timeout), ssl=self._tls,
                    allow_redirects=False) as response:
                _not_redirected(response, server)
                data, warnings = await _api_data(response)
                series = parse(data)
        except TimeoutError as error:
            raise QueryError(f"{server} did not answer within {gates.timeout:g} s") from error
        except aiohttp.ClientConnectionError as error:
            raise QueryError(f"{server} is unreachable: {error}", retryable=True) from error
        except (aiohttp.ClientError, OSError) as error:
            raise QueryError(f"{server} failed: {error}") from error
        if warnings:
            return Answer(series, f"{server} answered with warnings (a partial answer): {'; '.join(warnings)}",
                          "PartialResponse")
        return Answer(series)


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

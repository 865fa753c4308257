"""The seam between the gates and a metrics backend, as Argo Rollouts' metric providers: a provider
measures one gate metric (its series and the traffic behind them) now, or averaged over the
baseline window; judging is `evaluate`'s and the sequence of a check is `run`'s.

A provider never raises: every failure is an `Answer` with an error and a cause, which the gates
count as Inconclusive like no data. Providers: `prometheus.PrometheusProvider` (PromQL over the
HTTP API) and `cloudwatch.CloudWatchProvider` (GetMetricData); `Unavailable` stands in when a provider cannot even be
built (a Secret missing, a CA bundle that does not parse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tap_optimizer.gates.evaluate import Series
from tap_optimizer.plan.model import Cause
from tap_optimizer.plan.spec import GateMetric


@dataclass(frozen=True)
class Answer:
    """One query's series, or why there are none.

    cause: `Unreachable` (no answer; trying later may help), `QueryRejected` (the backend refused
    the query itself: bad syntax, an unknown function; trying again will not help),
    `PartialResponse` (an answer with warnings: a store was down, series may be missing) or
    `AccessError` (credentials or TLS could not be set up)."""

    series: Series
    error: str = ""
    cause: Cause = ""

    @staticmethod
    def failed(error: str, cause: Cause) -> Answer:
        return Answer([], error, cause)


@dataclass(frozen=True)
class Measurement:
    """A metric's answer and, when it has a volume query, the traffic's."""

    series: Answer
    volume: Answer | None = None

    @property
    def error(self) -> Answer | None:
        """The first answer that failed, the metric's own before its volume's."""
        return next((a for a in (self.series, self.volume) if a is not None and a.error), None)


class GateProvider(Protocol):
    """What a metrics backend does for the gates."""

    async def measure(self, metric: GateMetric, at: float) -> Measurement:
        """The metric's series and traffic at `at` (UNIX seconds)."""
        ...

    async def measure_baseline(self, metric: GateMetric, window: float, at: float,
                               last_week: bool) -> list[Measurement]:
        """The metric averaged over the `window` seconds ending at `at`, and, with `last_week`,
        over the same window one week earlier: one measurement per period."""
        ...


@dataclass(frozen=True)
class Unavailable:
    """A provider that could not be built: every measurement fails with the same reason."""

    reason: str
    cause: Cause = "AccessError"

    def _failed(self, metric: GateMetric) -> Measurement:
        failed = Answer.failed(self.reason, self.cause)
        return Measurement(failed, failed if metric.volume_query else None)

    async def measure(self, metric: GateMetric, at: float) -> Measurement:
        return self._failed(metric)

    async def measure_baseline(self, metric: GateMetric, window: float, at: float,
                               last_week: bool) -> list[Measurement]:
        return [self._failed(metric)]

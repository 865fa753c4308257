"""The platform's SLO gates as PromQL over the synthetic service, with windows short enough
for tests (the product's defaults use minutes)."""

from __future__ import annotations

from typing import Any

WINDOW = "5s"


def error_ratio(window: str = WINDOW) -> str:
    return f'sum(rate(tap_requests_total{{code="500"}}[{window}])) / sum(rate(tap_requests_total[{window}]))'


def p99(window: str = WINDOW) -> str:
    return f"histogram_quantile(0.99, sum by (le) (rate(tap_request_duration_seconds_bucket[{window}])))"


def tenant_error_ratio(window: str = WINDOW) -> str:
    return (f'sum by (tenant) (rate(tap_requests_total{{code="500"}}[{window}])) '
            f'/ sum by (tenant) (rate(tap_requests_total[{window}]))')


def volume(window: str = WINDOW) -> str:
    return f"sum(rate(tap_requests_total[{window}]))"



def gates(url: str, *, per_tenant: bool = False, window: str = WINDOW, **overrides: Any) -> dict[str, Any]:
    """spec.gates of an OptimizationPlan: error ratio <= 0.5 %, p99 at most 20 % over baseline, each
    over `window` (a longer window sees through a gap in Prometheus' data after an outage)."""
    metrics = [
        {"name": "error-rate", "query": error_ratio(window), "max": 0.005, "volumeQuery": volume(window),
         "minVolume": 10},
        {"name": "p99-latency", "query": p99(window), "maxIncreaseOverBaseline": 0.2},
    ]
    if per_tenant:
        metrics.append({"name": "tenant-error-rate", "query": tenant_error_ratio(window), "max": 0.005})
    return {"prometheus": {"url": url, "timeout": "2s"}, "interval": "1s", "observationWindow": "6s",
            "baselineWindow": "10s", "inconclusiveLimit": 3, "metrics": metrics, **overrides}

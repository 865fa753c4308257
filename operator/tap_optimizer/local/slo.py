"""The platform's SLO gates as PromQL over the synthetic service, with windows short enough
for tests (the product's defaults use minutes)."""

from __future__ import annotations

from typing import Any

WINDOW = "5s"
ERROR_RATIO = (f'sum(rate(tap_requests_total{{code="500"}}[{WINDOW}])) / sum(rate(tap_requests_total[{WINDOW}]))')
P99 = f"histogram_quantile(0.99, sum by (le) (rate(tap_request_duration_seconds_bucket[{WINDOW}])))"
TENANT_ERROR_RATIO = (f'sum by (tenant) (rate(tap_requests_total{{code="500"}}[{WINDOW}])) '
                      f'/ sum by (tenant) (rate(tap_requests_total[{WINDOW}]))')
VOLUME = f"sum(rate(tap_requests_total[{WINDOW}]))"


def gates(url: str, *, per_tenant: bool = False, **overrides: Any) -> dict[str, Any]:
    """spec.gates of an OptimizationPlan: error ratio <= 0.5 %, p99 at most 20 % over baseline."""
    metrics = [
        {"name": "error-rate", "query": ERROR_RATIO, "max": 0.005, "volumeQuery": VOLUME, "minVolume": 10},
        {"name": "p99-latency", "query": P99, "maxIncreaseOverBaseline": 0.2},
    ]
    if per_tenant:
        metrics.append({"name": "tenant-error-rate", "query": TENANT_ERROR_RATIO, "max": 0.005})
    return {"prometheus": {"url": url, "timeout": "2s"}, "interval": "1s", "observationWindow": "6s",
            "baselineWindow": "10s", "inconclusiveLimit": 3, "metrics": metrics, **overrides}

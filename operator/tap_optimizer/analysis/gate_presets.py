"""`analyze --gates-preset NAME`: the plan's gates for a common source of request metrics.

Each preset is the reference's two gates (error ratio <= 0.5 % with a minimum traffic, p99
latency at most 20 % over its baseline) written over one exporter's series. The exporters create
a status code's series at its first request, so a service that never answered 5xx has none: the
error count is `or vector(0)`, or the ratio would be empty (NoData, no baseline) on a healthy
service; with no traffic at all it stays empty, as it must.
- `http`: the Prometheus client libraries' conventional `http_requests_total{code}` and
  `http_request_duration_seconds_bucket`;
- `istio`: the Istio sidecars' `istio_requests_total{response_code}` and
  `istio_request_duration_milliseconds_bucket` (reporter="destination");
- `nginx-ingress`: ingress-nginx's `nginx_ingress_controller_requests{status}` and
  `nginx_ingress_controller_request_duration_seconds_bucket`;
- `tap`: the series this project's own synthetic service exports (the demo's).
Every exporter's series carry the scraped job's labels, and a Prometheus scrapes many services:
`--gates-selector 'namespace="tap", service="api"'` narrows every query to the platform's own
(without it the gates judge the sum of every service exporting the series).
The AWS Load Balancer Controller exports no per-request series (the ALB's requests and latency
are CloudWatch metrics): gate such a platform on CloudWatch with `--gates` (README, "Gating on
Amazon CloudWatch").
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

from tap_optimizer.analysis.config import ConfigError

WINDOW = "5m"
DEFAULT = "http"
# PromQL label matchers: name, operator, double-quoted value; comma separated
MATCHER = r'\s*[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"(?:[^"\\]|\\.)*"\s*'
SELECTOR = re.compile(rf"{MATCHER}(,{MATCHER})*")


@dataclass(frozen=True)
class Source:
    """One exporter's request counter (with the label holding the status code) and latency histogram."""

    requests: str
    code_label: str
    histogram: str
    selector: str = ""   # extra label matchers, e.g. reporter="destination"


SOURCES = {
    "http": Source("http_requests_total", "code", "http_request_duration_seconds_bucket"),
    "istio": Source("istio_requests_total", "response_code", "istio_request_duration_milliseconds_bucket",
                    'reporter="destination"'),
    "nginx-ingress": Source("nginx_ingress_controller_requests", "status",
                            "nginx_ingress_controller_request_duration_seconds_bucket"),
    "tap": Source("tap_requests_total", "code", "tap_request_duration_seconds_bucket"),
}


def _matchers(*parts: str) -> str:
    found = [p for p in parts if p]
    return "{" + ", ".join(found) + "}" if found else ""


def gates(name: str, selector: str = "") -> dict[str, Any]:
    """spec.gates for preset `name`, every series narrowed by `selector` (label matchers, as inside
    PromQL's braces); an unknown name or a selector that is not label matchers is refused."""
    if name not in SOURCES:
        raise ConfigError(f"--gates-preset {name}: unknown; allowed: {', '.join(sorted(SOURCES))}")
    if selector and not SELECTOR.fullmatch(selector):
        raise ConfigError(f"--gates-selector {selector}: not PromQL label matchers such as "
                          'namespace="tap", service=~"api|web"')
    s = SOURCES[name]
    every = _matchers(s.selector, selector.strip())
    errors = _matchers(s.selector, selector.strip(), f'{s.code_label}=~"5.."')
    volume = f"sum(rate({s.requests}{every}[{WINDOW}]))"
    return copy.deepcopy({
        "interval": "15m", "observationWindow": "48h", "baselineWindow": "1h", "compareWithLastWeek": True,
        "inconclusiveLimit": 3,
        "metrics": [
            {"name": "error-rate", "query": f"(sum(rate({s.requests}{errors}[{WINDOW}])) or vector(0)) / {volume}",
             "max": 0.005, "volumeQuery": volume, "minVolume": 1},
            {"name": "p99-latency",
             "query": f"histogram_quantile(0.99, sum by (le) (rate({s.histogram}{every}[{WINDOW}])))",
             "maxIncreaseOverBaseline": 0.2},
        ],
    })

"""`analyze --gates-preset`: every preset is a valid spec.gates over its exporter's own series."""

from __future__ import annotations

import pytest

from tap_optimizer.analysis import gate_check, gate_presets
from tap_optimizer.analysis.config import ConfigError
from tap_optimizer.analysis.planwriter import optimization_plan
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan import spec as plan_spec

CHANGE = {"rule": "r", "phase": "compute", "resource": "x", "region": "us-east-1", "reason": "why", "evidence": {},
          "risk": "low", "irreversible": False, "projectedMonthlySavings": 1.0,
          "changes": [{"op": "replace", "path": "/spec/parameters/compute/minSize", "value": 2}]}


@pytest.mark.parametrize(("name", "series"), [
    ("http", ('http_requests_total{code=~"5.."}', "http_request_duration_seconds_bucket[")),
    ("istio", ('istio_requests_total{reporter="destination", response_code=~"5.."}',
               'istio_request_duration_milliseconds_bucket{reporter="destination"}')),
    ("nginx-ingress", ('nginx_ingress_controller_requests{status=~"5.."}',
                       "nginx_ingress_controller_request_duration_seconds_bucket[")),
    ("tap", ('tap_requests_total{code=~"5.."}', "tap_request_duration_seconds_bucket[")),
])
def test_each_preset_gates_on_its_own_series_and_is_a_valid_plan(name, series):
    gates = gate_presets.gates(name)
    errors, latency = (m["query"] for m in gates["metrics"])
    assert series[0] in errors and series[1] in latency
    plan = optimization_plan("tap-prod", "tap", [CHANGE], date="2026-11-29", prometheus_url="", gates=gates)
    schema = plan_spec.plan_schema()
    assert validate(schema, apply_defaults(schema, {"spec": plan["spec"]})) == []
    assert plan_spec.spec_errors(plan["spec"]) == []
    assert [f for f, _ in gate_check.queries(gates)] == [
        "spec.gates.metrics[error-rate].query", "spec.gates.metrics[error-rate].volumeQuery",
        "spec.gates.metrics[p99-latency].query"]


def test_an_unknown_preset_is_refused_listing_the_presets():
    with pytest.raises(ConfigError, match="--gates-preset envoy: unknown; allowed: http, istio, nginx-ingress, tap"):
        gate_presets.gates("envoy")

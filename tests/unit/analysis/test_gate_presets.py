"""`analyze --gates-preset`: every preset is a valid spec.gates over its exporter's own series."""

from __future__ import annotations

import argparse
import http.server
import json
import pathlib
import subprocess
import threading
import urllib.parse

import pytest
import yaml

from tap_optimizer.analysis import command as analysis_command
from tap_optimizer.analysis import gate_check, gate_presets
from tap_optimizer.analysis.config import ConfigError
from tap_optimizer.analysis.planwriter import optimization_plan, plan_gates
from tap_optimizer.cli import parser
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer_local.prometheus import PROMTOOL
from tests.support.platforms import EXAMPLES

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


def _series(metric: str, source: gate_presets.Source, label: str, value: str, per_minute: int) -> dict:
    """A counter of `per_minute` increments, with the preset's selector and one more label."""
    labels = ", ".join(p for p in (source.selector, f'{label}="{value}"') if p)
    return {"series": f"{metric}{{{labels}}}", "values": f"0+{per_minute}x20"}


@pytest.mark.parametrize("name", sorted(gate_presets.SOURCES))
@pytest.mark.parametrize(("errors_per_minute", "ratio"), [(0, 0.0), (6, 0.01)])
def test_each_preset_answers_on_a_service_that_never_answered_5xx(name, errors_per_minute, ratio, tmp_path):
    # The exporters create a code's series at its first request: a healthy service has no 5xx series,
    # and `sum(rate(errors)) / sum(rate(all))` was then empty (NoData forever, and analyze
    # --prometheus-url refused the plan). Evaluated by Prometheus' own engine (promtool test rules):
    # 600 requests a minute, none (no 5xx series at all) or 6 of them 5xx.
    source, gates = gate_presets.SOURCES[name], gate_presets.gates(name)
    series = [_series(source.requests, source, source.code_label, "200", 600 - errors_per_minute),
              _series(source.histogram, source, "le", "0.1", 600), _series(source.histogram, source, "le", "+Inf", 600)]
    if errors_per_minute:
        series.append(_series(source.requests, source, source.code_label, "503", errors_per_minute))
    error_rate, latency = gates["metrics"]
    expected = [(error_rate["query"], ratio), (error_rate["volumeQuery"], 10.0), (latency["query"], 0.099)]
    _promtool_agrees(tmp_path, series, expected)


def _promtool_agrees(tmp_path, series: list[dict], expected: list[tuple[str, float]]) -> None:
    """Prometheus' own engine (promtool test rules) gives each query its value at 15 minutes of
    the series, one sample per minute."""
    tests = {"tests": [{"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": q, "eval_time": "15m", "exp_samples": [{"labels": "{}", "value": v}]} for q, v in expected]}]}
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump(tests))
    run = subprocess.run([PROMTOOL, "test", "rules", "queries.yaml"], cwd=tmp_path, capture_output=True, text=True,
                         check=False)
    assert run.returncode == 0, run.stdout + run.stderr


class _Prometheus(http.server.ThreadingHTTPServer):
    """An instant-query API answering every query with `result` (empty: the series are not there),
    recording the queries it was asked."""

    def __init__(self, result: list) -> None:
        self.result, self.asked = result, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.asked.append(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0])
                body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": outer.result}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *_: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def test_the_gate_queries_are_checked_on_the_prometheus_the_plan_will_ask():
    # --prometheus-url is the plan's own Prometheus only when the gates name no endpoint and no URL of
    # their own; the queries were asked on --prometheus-url regardless, refusing (or passing) them on
    # a server the plan never asks.
    silent, answering = _Prometheus([]), _Prometheus([{"metric": {}, "value": [0, "0.001"]}])
    warnings: list[str] = []
    try:
        args = argparse.Namespace(prometheus_url=silent.url, gates=pathlib.Path("gates.yaml"), gates_preset="http")
        own = gate_presets.gates("http") | {"prometheus": {"url": answering.url}}
        analysis_command._check_gates(plan_gates(own, silent.url), args, warnings.append)
        assert (silent.asked, len(answering.asked)) == ([], 3)
        named = gate_presets.gates("http") | {"endpoint": "main"}
        analysis_command._check_gates(plan_gates(named, silent.url), args, warnings.append)
        assert silent.asked == [] and "endpoint 'main'" in warnings[0]
        with pytest.raises(ConfigError, match=f"return nothing on {silent.url}"):
            analysis_command._check_gates(plan_gates(gate_presets.gates("http"), silent.url), args, warnings.append)
    finally:
        for server in (silent, answering):
            server.shutdown()
            server.server_close()


def test_a_selector_narrows_every_preset_query_to_the_platforms_service(tmp_path):
    # One Prometheus, two services: the platform's api (600 requests a minute, no 5xx) and a batch
    # job failing 30 of 100. Without a selector the preset's error rate is the sum of both, 4.3 %,
    # over the 0.5 % bound: the plan would roll back on another service's errors.
    series = [{"series": 'http_requests_total{job="api", code="200"}', "values": "0+600x20"},
              {"series": 'http_requests_total{job="batch", code="200"}', "values": "0+70x20"},
              {"series": 'http_requests_total{job="batch", code="500"}', "values": "0+30x20"}]
    cases = [(gate_presets.gates("http")["metrics"][0]["query"], 30 / 700),
             (gate_presets.gates("http", 'job="api"')["metrics"][0]["query"], 0.0),
             (gate_presets.gates("http", 'job="api"')["metrics"][0]["volumeQuery"], 10.0)]
    _promtool_agrees(tmp_path, series, cases)


@pytest.mark.parametrize("selector", ["job=api", 'job="api" code="200"', '{job="api"}', 'job="api",'])
def test_a_selector_that_is_not_label_matchers_is_refused(selector):
    with pytest.raises(ConfigError, match=r"--gates-selector .*: not PromQL label matchers"):
        gate_presets.gates("http", selector)


def test_analyze_takes_the_selector_with_a_preset_only(tmp_path):
    flags = ["analyze", "--platform", str(EXAMPLES / "tap-prod.yaml"), "--out", str(tmp_path / "plan.yaml"),
             "--gates-selector", 'namespace="tap"']
    request = analysis_command.request(parser().parse_args([*flags, "--gates-preset", "nginx-ingress"]))
    assert 'nginx_ingress_controller_requests{namespace="tap"}' in request.gates["metrics"][0]["volumeQuery"]
    (tmp_path / "gates.yaml").write_text(yaml.safe_dump(gate_presets.gates("http")))
    with pytest.raises(ConfigError, match="--gates-selector: applies to --gates-preset"):
        analysis_command.request(parser().parse_args([*flags, "--gates", str(tmp_path / "gates.yaml")]))


@pytest.mark.parametrize(("url", "refused"), [
    ("http://admin:s3cret@prometheus.monitoring:9090", "credentials in the URL would be written into the plan"),
    ("http://prometheus.monitoring:9090/?tenant=a", "no query or fragment"),
    ("http://prometheus.monitoring:9090#x", "no query or fragment"),
])
def test_a_prometheus_url_with_credentials_query_or_fragment_is_refused(tmp_path, url, refused):
    # it was written into the plan as spec.gates.prometheus.url (committed to Git, echoed in the
    # plan's status), and /api/v1/query was appended after the query string
    args = parser().parse_args(["analyze", "--platform", str(EXAMPLES / "tap-prod.yaml"), "--out",
                                str(tmp_path / "plan.yaml"), "--prometheus-url", url])
    with pytest.raises(ConfigError, match=refused) as refusal:
        analysis_command.request(args)
    assert "s3cret" not in str(refusal.value)

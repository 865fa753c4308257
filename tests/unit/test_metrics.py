"""The operator's own metrics: the status diff they are counted from, the plan gauges, the error
counters at the I/O edges, and the HTTP endpoints that serve them (the real aiohttp app on a
local port). The real operator scraped end to end is in tests/integration/test_operator_metrics.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
import urllib3
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from kubernetes.client.rest import ApiException
from prometheus_client.parser import text_string_to_metric_families

from tap_optimizer import cluster
from tap_optimizer.cli import EXIT_BAD_INPUT, main
from tap_optimizer.dashboard.html import NO_ANALYSIS
from tap_optimizer.gates import prometheus
from tap_optimizer.gates.prometheus import PrometheusGates
from tap_optimizer.metrics import (
    METRICS,
    STATES,
    OperatorMetrics,
    applied_savings,
    entered_rollback,
    phase_transitions,
    projected_savings,
)
from tap_optimizer.plan.spec import parse
from tap_optimizer.webserver import Address, application, parse_address, read_analysis
from tap_optimizer_local.processes import free_port
from tests.support import dashboard_samples
from tests.support.plans import FAIL, NO_DATA, PASS, Run, World, three_phase_spec


def value(metrics: OperatorMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def plan(name: str, phases: list[tuple[str, str]] | None = None, state: str | None = None) -> dict:
    status = {"state": state, "phases": [{"name": n, "state": s} for n, s in phases or []]} if state else None
    return {"metadata": {"name": name, "namespace": "tap"}, "spec": three_phase_spec(),
            **({"status": status} if status else {})}


# -- the status diff -----------------------------------------------------------------------------

def test_a_phase_that_changed_state_is_one_transition_to_its_new_state():
    old = {"phases": [{"name": "a", "state": "Succeeded"}, {"name": "b", "state": "Applied"}]}
    new = {"phases": [{"name": "a", "state": "Succeeded"}, {"name": "b", "state": "Observing"}]}
    assert phase_transitions(old, new) == ["Observing"]


def test_phases_first_written_enter_their_first_state_and_an_unchanged_status_has_none():
    new = {"phases": [{"name": "a", "state": "Pending"}, {"name": "b", "state": "Pending"}]}
    assert phase_transitions({}, new) == ["Pending", "Pending"]
    assert phase_transitions(new, new) == []
    assert phase_transitions(new, {"state": "Failed"}) == []


def test_a_rollback_is_entered_once():
    assert entered_rollback({"state": "Observing"}, {"state": "RollingBack"})
    assert not entered_rollback({"state": "RollingBack"}, {"state": "RollingBack"})
    assert not entered_rollback({"state": "RollingBack"}, {"state": "RolledBack"})


@dataclass
class CountedRun(Run):
    """The state machine driven like the operator, counting every status it would write."""

    metrics: OperatorMetrics = field(default_factory=OperatorMetrics)

    def step(self, crash_after_action: bool = False) -> bool:
        old = self.status
        again = super().step(crash_after_action)
        if self.status != old:
            self.metrics.status_written(f"tap/{self.name}", old, self.status)
        return again


def test_a_plan_that_succeeds_counts_every_phase_through_every_state():
    run = CountedRun(three_phase_spec(), World())
    run.until("Succeeded", "RolledBack", "Failed", seconds=10)
    assert run.status["state"] == "Succeeded"
    for state in ("Pending", "Applying", "Applied", "Observing", "Succeeded"):
        assert value(run.metrics, "tap_optimizer_phase_transitions_total", to=state) == 3, state
    assert value(run.metrics, "tap_optimizer_rollbacks_total", plan_namespace="tap", plan_name="plan-a") is None


def test_a_failed_gate_counts_one_rollback_and_the_phase_rolled_back():
    run = CountedRun(three_phase_spec(), World(gates=FAIL))
    run.until("Succeeded", "RolledBack", "Failed", seconds=10)
    assert run.status["state"] == "RolledBack"
    assert value(run.metrics, "tap_optimizer_rollbacks_total", plan_namespace="tap", plan_name="plan-a") == 1
    assert value(run.metrics, "tap_optimizer_phase_transitions_total", to="RolledBack") == 1
    assert value(run.metrics, "tap_optimizer_phase_transitions_total", to="Succeeded") is None


# -- plans, savings, gates, errors ---------------------------------------------------------------

def test_every_state_verdict_and_system_is_exported_from_the_start():
    metrics = OperatorMetrics()
    assert {s: value(metrics, "tap_optimizer_plans", state=s) for s in STATES} == dict.fromkeys(STATES, 0)
    assert len(STATES) == 10
    for verdict in ("Pass", "Fail", "Inconclusive"):
        assert value(metrics, "tap_optimizer_gate_evaluations_total", verdict=verdict) == 0
    for system in ("kubernetes", "prometheus", "aws"):
        assert value(metrics, "tap_optimizer_errors_total", system=system) == 0


def test_the_plan_gauges_follow_the_latest_body_of_each_plan():
    metrics = OperatorMetrics()
    metrics.plan_seen("tap/a", plan("a"))
    metrics.plan_seen("tap/b", plan("b", [("dynamodb", "Observing")], "Observing"))
    assert value(metrics, "tap_optimizer_plans", state="Pending") == 1
    assert value(metrics, "tap_optimizer_plans", state="Observing") == 1
    metrics.plan_seen("tap/b", plan("b", [("dynamodb", "Succeeded"), ("compute", "Observing")], "Observing"))
    metrics.plan_gone("tap/a")
    assert value(metrics, "tap_optimizer_plans", state="Pending") == 0
    assert value(metrics, "tap_optimizer_plans", state="Observing") == 1
    assert value(metrics, "tap_optimizer_projected_monthly_savings_dollars") == pytest.approx(4241.2)
    assert value(metrics, "tap_optimizer_realized_monthly_savings_dollars") == pytest.approx(41.2)
    assert [p["metadata"]["name"] for p in metrics.plans.values()] == ["b"]


def test_savings_of_a_plan_agree_with_the_state_machines_projection_and_drop_on_rollback():
    succeeded, rolled_back = dashboard_samples.succeeded_plan(), dashboard_samples.rolled_back_plan()
    spec_total = sum(p.projected_monthly_savings for p in parse(succeeded["spec"]).phases)
    assert projected_savings(succeeded) == pytest.approx(spec_total)
    assert projected_savings(succeeded) == pytest.approx(succeeded["status"]["projectedMonthlySavings"])
    assert applied_savings(succeeded) == pytest.approx(spec_total)
    assert applied_savings(rolled_back) == 0


async def test_kubernetes_failures_are_counted_except_the_answers_the_caller_expects():
    def failing(error: Exception):
        def call():
            raise error
        return call

    before = METRICS.registry.get_sample_value("tap_optimizer_errors_total", {"system": "kubernetes"})
    with pytest.raises(ApiException):
        await cluster.call(failing(ApiException(status=404)), expected={404})
    with pytest.raises(ApiException):
        await cluster.call(failing(ApiException(status=500)), expected={404})
    with pytest.raises(urllib3.exceptions.HTTPError):
        await cluster.call(failing(urllib3.exceptions.MaxRetryError(None, "/", "refused")))
    assert METRICS.registry.get_sample_value("tap_optimizer_errors_total", {"system": "kubernetes"}) == before + 2


async def test_an_unreachable_prometheus_counts_one_error_per_query(monkeypatch):
    monkeypatch.setattr(prometheus, "BACKOFF_SECONDS", 0)
    spec = three_phase_spec(gates={"prometheus": {"url": f"http://127.0.0.1:{free_port()}"}, "metrics": [
        {"name": "error-rate", "query": "errors", "max": 0.005, "volumeQuery": "volume", "minVolume": 1}]})
    before = METRICS.registry.get_sample_value("tap_optimizer_errors_total", {"system": "prometheus"})
    async with PrometheusGates() as gates:
        verdict = await gates.check(parse(spec).gates, {})
    assert verdict.verdict == "Inconclusive"
    assert METRICS.registry.get_sample_value("tap_optimizer_errors_total", {"system": "prometheus"}) == before + 2


# -- the HTTP endpoints --------------------------------------------------------------------------

@pytest_asyncio.fixture
async def served(tmp_path) -> AsyncIterator[tuple[OperatorMetrics, str]]:
    metrics = OperatorMetrics()
    async with TestServer(application(metrics, tmp_path / "analysis.json"), host="127.0.0.1") as server:
        yield metrics, str(server.make_url("")).rstrip("/")


async def test_metrics_are_served_in_the_exposition_format(served):
    metrics, url = served
    metrics.gate_checked("Pass")
    async with ClientSession() as http, http.get(f"{url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=")
        families = {f.name: f for f in text_string_to_metric_families(await response.text())}
    assert {"tap_optimizer_plans", "tap_optimizer_phase_transitions", "tap_optimizer_gate_evaluations",
            "tap_optimizer_rollbacks", "tap_optimizer_projected_monthly_savings_dollars",
            "tap_optimizer_realized_monthly_savings_dollars", "tap_optimizer_reconcile_duration_seconds",
            "tap_optimizer_errors"} <= families.keys()
    passes = [s.value for s in families["tap_optimizer_gate_evaluations"].samples
              if s.name.endswith("_total") and s.labels == {"verdict": "Pass"}]
    assert passes == [1]
    assert "python_gc_objects_collected" not in families  # our registry, not the process-global one


async def test_only_get_and_head_are_answered(served):
    _, url = served
    async with ClientSession() as http:
        for method in ("POST", "PUT", "DELETE"):
            async with http.request(method, f"{url}/metrics") as response:
                assert response.status == 405, method
        async with http.head(f"{url}/metrics") as response:
            assert response.status == 200
        async with http.get(url + "/", allow_redirects=False) as response:
            assert response.status == 302 and response.headers["Location"] == "/dashboard"


async def test_the_dashboard_shows_the_known_plans_and_says_when_there_is_no_analysis(served):
    metrics, url = served
    metrics.plan_seen("tap/rightsize", dashboard_samples.succeeded_plan())
    async with ClientSession() as http, http.get(f"{url}/dashboard") as response:
        assert response.status == 200 and response.content_type == "text/html"
        page = await response.text()
    assert "rightsize" in page and NO_ANALYSIS in page


def test_the_analysis_is_read_when_it_is_a_valid_document(tmp_path):
    path = tmp_path / "analysis.json"
    assert read_analysis(None) is None and read_analysis(path) is None
    path.write_text("{not json")
    assert read_analysis(path) is None
    path.write_text(json.dumps({"version": "0"}))
    assert read_analysis(path) is None
    path.write_text(json.dumps(dashboard_samples.analysis()))
    assert read_analysis(path) == dashboard_samples.analysis()


@pytest.mark.parametrize(("text", "address"), [
    ("0.0.0.0:8000", Address("0.0.0.0", 8000)), ("[::1]:9000", Address("::1", 9000)), ("", None), ("off", None)])
def test_http_addresses(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["8000", "host:", ":8000", "host:port", "host:70000"])
def test_a_bad_http_address_exits_2_naming_the_flag(capsys, text):
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)
    assert main(["run", "--all-namespaces", "--http", text]) == EXIT_BAD_INPUT
    assert "--http" in capsys.readouterr().err


async def test_a_standby_exports_no_plan_gauges_and_its_dashboard_names_the_leader(tmp_path):
    """A standby knows no plans: zero-valued plan gauges would make sums over the pods wrong, and an
    empty page would tell a viewer the Service happened to route to it that there are no plans."""
    metrics, leader = OperatorMetrics(), ["replica-a-1f2e3d"]
    metrics.plan_seen("tap/p", {"metadata": {"name": "p", "namespace": "tap"}, "status": {"state": "Observing"}})
    metrics.set_leading(False)
    app = application(metrics, tmp_path / "analysis.json", standby=lambda: leader[0])
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as http:
        url = str(server.make_url("")).rstrip("/")
        async with http.get(f"{url}/metrics") as response:
            families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        async with http.get(f"{url}/dashboard") as response:
            assert response.status == 503 and response.headers["Retry-After"] == "5"
            assert "the leader is replica-a-1f2e3d" in await response.text()
        assert [s.value for s in families["tap_optimizer_leader"].samples] == [0]
        assert not families.keys() & {"tap_optimizer_plans", "tap_optimizer_projected_monthly_savings_dollars",
                                      "tap_optimizer_realized_monthly_savings_dollars"}
        assert {"tap_optimizer_gate_evaluations", "tap_optimizer_errors"} <= families.keys(), "its own counters"

        metrics.set_leading(True)
        leader[0] = None
        async with http.get(f"{url}/metrics") as response:
            families = {f.name: f for f in text_string_to_metric_families(await response.text())}
        async with http.get(f"{url}/dashboard") as response:
            assert response.status == 200
    assert [s.value for s in families["tap_optimizer_leader"].samples] == [1]
    observing = [s.value for s in families["tap_optimizer_plans"].samples if s.labels == {"state": "Observing"}]
    assert observing == [1]


def test_a_plan_held_by_inconclusive_checks_is_a_series_named_by_the_plan_until_the_gates_judge_again():
    metrics, run = OperatorMetrics(), Run(three_phase_spec(), World())
    run.until("Observing")
    run.world.gates = NO_DATA
    run.tick(20)

    def held() -> float | None:
        metrics.plan_seen("tap/plan-a", {"metadata": {"name": "plan-a", "namespace": "tap"},
                                         "spec": run.spec_body, "status": run.status})
        return value(metrics, "tap_optimizer_plan_inconclusive_checks", plan_namespace="tap", plan_name="plan-a")

    assert held() == 2
    run.world.gates = PASS
    run.tick(10)
    assert held() is None

"""The gates against the real Prometheus server scraping a service whose errors and latency the
test controls: healthy passes, each kind of regression fails, no data is never a pass."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest
import pytest_asyncio

from tap_optimizer.gates.prometheus import PrometheusGates
from tap_optimizer.plan.spec import parse
from tap_optimizer_local import slo
from tap_optimizer_local.processes import free_port
from tap_optimizer_local.prometheus import PrometheusServer, check_until
from tests.support.plans import three_phase_spec

pytestmark = pytest.mark.asyncio(loop_scope="module")


def gate_spec(url: str, **options):
    return parse(three_phase_spec(gates=slo.gates(url, **options))).gates


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def measured(prometheus, service):
    """A gate client, the gate spec, and the baseline taken once the service ran healthy."""
    async with PrometheusGates() as gates:
        spec = gate_spec(prometheus.url, per_tenant=True)
        first = await gates.check(spec, {})
        await asyncio.sleep(10)  # a full baseline window of healthy traffic
        baseline = await gates.baseline(spec)
        yield gates, spec, baseline, first


async def test_right_after_start_there_is_no_data_and_no_pass(measured):
    *_, first = measured
    assert first.verdict == "Inconclusive"
    assert any("no data" in m.message or "traffic" in m.message for m in first.metrics)


async def test_the_baseline_holds_every_metric_measured_before_the_change(measured):
    _, _, baseline, _ = measured
    assert set(baseline) == {"error-rate", "p99-latency", "tenant-error-rate"}
    assert 0.03 < baseline["p99-latency"]["{}"] < 0.1
    assert set(baseline["tenant-error-rate"]) == {'{tenant="t1"}', '{tenant="t2"}', '{tenant="t3"}'}


async def test_a_baseline_with_last_week_gates_on_the_present_when_there_is_no_history(measured, caplog):
    gates, spec, baseline, _ = measured
    with caplog.at_level(logging.WARNING, "tap_optimizer.gates"):
        both = await gates.baseline(dataclasses.replace(spec, compare_with_last_week=True))
    assert not caplog.records, "the server refused a baseline query"
    assert {name: set(series) for name, series in both.items()} == {
        name: set(series) for name, series in baseline.items()}


async def test_a_step_without_a_value_does_not_poison_the_baseline(prometheus):
    """Every other second 0/0 = NaN, like a ratio in a quiet minute: the average skips those steps."""
    spec = gate_spec(prometheus.url, metrics=[{"name": "flicker", "query": "vector(time() % 2) / vector(time() % 2)",
                                               "maxIncreaseOverBaseline": 0.2}])
    async with PrometheusGates() as gates:
        assert await gates.baseline(spec) == {"flicker": {"{}": 1.0}}


async def test_a_check_is_one_round_trip_per_query(measured, prometheus):
    gates, spec, baseline, _ = measured
    before = prometheus.query_requests()
    await gates.check(spec, baseline)
    await asyncio.sleep(0.2)  # the server counts a request after it has answered it
    assert prometheus.query_requests() - before == 4  # error-rate and its volume, p99, tenant-error-rate


async def test_a_healthy_service_passes(measured):
    gates, spec, baseline, _ = measured
    verdict = await check_until(gates, spec, baseline, "Pass")
    assert {m.name: m.verdict for m in verdict.metrics} == {
        "error-rate": "Pass", "p99-latency": "Pass", "tenant-error-rate": "Pass"}


async def test_an_error_rate_above_half_a_percent_fails(measured, service):
    gates, spec, baseline, _ = measured
    service.set(error_rate=0.02)
    try:
        verdict = await check_until(gates, spec, baseline, "Fail")
        failed = {m.name: m for m in verdict.metrics if m.verdict == "Fail"}
        assert "error-rate" in failed and failed["error-rate"].value > 0.005
        assert failed["error-rate"].bound == 0.005
    finally:
        service.set(error_rate=0.001)
    await check_until(gates, spec, baseline, "Pass")


async def test_p99_latency_twenty_percent_over_the_baseline_fails(measured, service):
    gates, spec, baseline, _ = measured
    service.set(latency=0.09)
    try:
        verdict = await check_until(gates, spec, baseline, "Fail")
        (failed,) = [m for m in verdict.metrics if m.verdict == "Fail"]
        assert failed.name == "p99-latency" and "> baseline" in failed.message
    finally:
        service.set(latency=0.05)
    await check_until(gates, spec, baseline, "Pass")


async def test_one_tenant_breaching_fails_and_is_named(measured, service):
    gates, spec, baseline, _ = measured
    service.set("t2", error_rate=0.05)
    try:
        verdict = await check_until(gates, spec, baseline, "Fail")
        tenant = next(m for m in verdict.metrics if m.name == "tenant-error-rate")
        assert tenant.verdict == "Fail" and 'tenant="t2"' in tenant.message
    finally:
        service.set("t2", error_rate=0.001)
    await check_until(gates, spec, baseline, "Pass")


async def test_an_unreachable_prometheus_is_inconclusive_and_a_restart_passes_again(measured, prometheus):
    gates, spec, baseline, _ = measured
    prometheus.stop()
    try:
        verdict = await gates.check(spec, baseline)
        assert verdict.verdict == "Inconclusive"
        assert all("unreachable" in m.message for m in verdict.metrics)
    finally:
        prometheus.start()
    await check_until(gates, spec, baseline, "Pass")


async def test_a_promql_error_is_inconclusive_naming_it(prometheus):
    spec = gate_spec(prometheus.url, metrics=[{"name": "bad", "query": "sum(", "max": 1}])
    async with PrometheusGates() as gates:
        verdict = await gates.check(spec, {})
    assert verdict.verdict == "Inconclusive" and "bad_data" in verdict.metrics[0].message


async def test_an_answer_with_warnings_from_a_store_that_is_down_is_inconclusive(service):
    """A second Prometheus scraping the same healthy service, with a remote store that is down: every
    answer carries a warning, and a partial answer is never read as whole."""
    dead_store = f"http://127.0.0.1:{free_port()}/read"
    with PrometheusServer([f"127.0.0.1:{service.port}"], remote_read=(dead_store,)) as partial:
        await asyncio.sleep(8)  # a healthy rate window
        async with PrometheusGates() as gates:
            verdict = await gates.check(gate_spec(partial.url), {"p99-latency": {"{}": 0.05}})
    assert verdict.verdict == "Inconclusive"
    assert {m.cause for m in verdict.metrics} == {"PartialResponse"}
    assert all("remote_read" in m.message and "warnings" in m.message for m in verdict.metrics)

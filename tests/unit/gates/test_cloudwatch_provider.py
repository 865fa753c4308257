"""The CloudWatch gate provider against moto in server mode (extended with percentiles and metric
math, as the analysis tests use it): the real boto3 calls, no mocks. A healthy load balancer
passes, a regression fails naming its series, and every answer that is missing, refused, partial,
throttled or unauthenticated is an Inconclusive with its cause, never an exception."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from tap_optimizer.analysis.aws import Aws
from tap_optimizer.gates import endpoints, run
from tap_optimizer.gates.cloudwatch import CloudWatchGates, baseline_period
from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.spec import Gates, parse, spec_errors
from tap_optimizer_local import alb_metrics, moto_aws
from tap_optimizer_local.alb_metrics import Alb
from tap_optimizer_local.moto_aws import Moto
from tap_optimizer_local.processes import free_port
from tests.support.plans import three_phase_spec

REGION = "us-east-1"
AT = 29_916_667 * 60.0  # a minute boundary in 2026; moto keeps datapoints of any age
HOUR = 3600.0


@pytest.fixture
def alb(aws_env: Moto) -> Alb:
    """A load balancer with an hour of healthy history before AT, a datapoint a minute."""
    made = Alb(aws_env.session().client("cloudwatch", endpoint_url=aws_env.url))
    made.history(AT - HOUR, AT, step=60)
    return made


def gates(*metrics: dict, **overrides) -> Gates:
    """The plan's gates as the operator runs them: its CloudWatch endpoint's region filled in."""
    spec = three_phase_spec(gates=alb_metrics.gates(period="60s", baselineWindow="1h", **overrides))
    if metrics:
        spec["gates"]["metrics"] = list(metrics)
    config = endpoints.parse_config({"gates": {"endpoints": [alb_metrics.endpoint_config(REGION)]}})
    endpoint, refused = endpoints.resolve(spec, config, "tap")
    assert refused == [] and endpoint is not None
    effective = endpoints.effective_spec(spec, endpoint)
    assert spec_errors(effective) == []
    return parse(effective).gates


def provider(gates: Gates, **aws_options):
    """A provider that does not retry (botocore's max_attempts counts retries)."""
    return CloudWatchGates(Aws(retry_mode="standard", **{"max_attempts": 0, **aws_options})).provider(gates)


async def test_a_healthy_load_balancer_passes_on_the_5xx_ratio_and_p99(alb):
    spec = gates()
    p = provider(spec)
    baseline = await run.baseline(p, spec, AT)
    assert baseline.values == {"error-rate": {'{label="5xx-ratio"}': pytest.approx(0.001)},
                               "p99-latency": {'{label="p99"}': pytest.approx(0.05)}}
    verdict = await run.check(p, spec, baseline.values, AT)
    assert verdict.verdict == "Pass", verdict
    assert "errors / requests" in verdict.metrics[0].query and "p99(AWS/ApplicationELB TargetResponseTime" in \
        verdict.metrics[1].query


@pytest.mark.parametrize(("regression", "metric", "value", "phrase"), [
    ({"error_rate": 0.02}, "error-rate", 0.02, 'error-rate{label="5xx-ratio"} = 0.02 > max 0.005'),
    ({"latency": 0.09}, "p99-latency", 0.09, 'p99-latency{label="p99"} = 0.09 > baseline 0.05 +20%'),
], ids=["5xx ratio above half a percent", "p99 twenty percent over the baseline"])
async def test_a_regression_fails_its_metric_naming_the_series(alb, regression, metric, value, phrase):
    spec = gates()
    baseline = (await run.baseline(provider(spec), spec, AT)).values
    alb.set(**regression)
    alb.history(AT, AT + 60, step=60)
    verdict = await run.check(provider(spec), spec, baseline, AT + 60)
    (failed,) = [m for m in verdict.metrics if m.verdict == "Fail"]
    assert verdict.verdict == "Fail" and failed.name == metric and failed.value == pytest.approx(value)
    assert phrase in failed.message


async def test_the_value_is_the_latest_complete_period_and_older_than_three_periods_is_no_data(alb):
    spec = gates()
    alb.set(error_rate=0.02)
    alb.publish(AT + 30)  # the period [AT, AT + 60) is not over at AT + 59: not read yet
    assert (await error_rate(spec, AT + 59)).verdict == "Pass"
    assert (await error_rate(spec, AT + 60)).verdict == "Fail"
    assert (await error_rate(spec, AT + 60 + 2 * 60)).verdict == "Fail"
    stale = await error_rate(spec, AT + 60 + 3 * 60)
    assert stale.verdict == "Inconclusive" and stale.cause == "NoData"


async def error_rate(spec: Gates, at: float):
    return next(m for m in (await run.check(provider(spec), spec, {}, at)).metrics if m.name == "error-rate")


async def test_no_data_is_inconclusive_never_a_pass(aws_env):
    spec = gates()
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert verdict.verdict == "Inconclusive" and {m.cause for m in verdict.metrics} == {"NoData"}
    baseline = await run.baseline(provider(spec), spec, AT)
    assert baseline.values == {} and set(baseline.missing) == {"error-rate", "p99-latency"}


async def test_too_little_traffic_in_one_target_group_is_inconclusive_for_that_group_only(alb):
    spec = gates(alb_metrics.per_target_group_metric())
    alb.set("admin", requests=5, error_rate=0.2)
    alb.history(AT, AT + 60, step=60)
    (metric,) = (await run.check(provider(spec), spec, {}, AT + 60)).metrics
    assert metric.verdict == "Inconclusive" and metric.cause == "LowTraffic"
    assert metric.series == '{label="admin"}', "the quiet group's traffic is its own, not the sum"
    alb.set("api", error_rate=0.05)
    alb.history(AT + 60, AT + 120, step=60)
    (metric,) = (await run.check(provider(spec), spec, {}, AT + 120)).metrics
    assert metric.verdict == "Fail" and metric.series == '{label="api"}', "a failing group beats a quiet one"


async def test_a_query_cloudwatch_rejects_fails_the_preflight_quoting_it(alb):
    bad = copy.deepcopy(alb_metrics.error_rate_metric())
    bad["cloudwatch"]["queries"][2]["expression"] = "errors / (requests"
    spec = gates(bad)
    preflight = await run.preflight(provider(spec), spec, AT)
    assert preflight.unanswered == ()
    assert len(preflight.rejected) == 2  # its query and its volume query, both from the one call
    assert preflight.rejected[0].startswith("spec.gates.metrics[error-rate].query: CloudWatch in us-east-1 rejected "
                                            "the query: ValidationError")
    unknown = copy.deepcopy(alb_metrics.p99_metric())
    unknown["cloudwatch"]["queries"].append({"id": "ratio", "expression": "p99 / nowhere"})
    spec = gates(unknown)
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert verdict.metrics[0].cause == "QueryRejected" and "nowhere" in verdict.metrics[0].message


async def test_partial_data_is_inconclusive_quoting_the_status(alb):
    spec = gates()
    moto_aws.PARTIAL["GetMetricData"] = 2
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert verdict.verdict == "Inconclusive" and {m.cause for m in verdict.metrics} == {"PartialResponse"}
    assert all("StatusCode PartialData" in m.message for m in verdict.metrics)
    moto_aws.PARTIAL["GetMetricData"] = 2
    assert (await run.preflight(provider(spec), spec, AT)).unanswered, "a partial answer is no answer"


async def test_datapoints_dropped_by_a_division_by_zero_are_a_partial_answer(alb):
    spec = gates(alb_metrics.error_rate_metric(min_volume=0))
    alb.set(requests=0)
    alb.history(AT, AT + 60, step=60)
    alb.cloudwatch.put_metric_data(Namespace=alb_metrics.NAMESPACE, MetricData=[
        {"MetricName": name, "Timestamp": alb_metrics.dt.datetime.fromtimestamp(AT, alb_metrics.dt.UTC), "Value": 0,
         "Dimensions": [{"Name": "LoadBalancer", "Value": alb_metrics.LOAD_BALANCER}]}
        for name in ("RequestCount", "HTTPCode_Target_5XX_Count")])  # a quiet minute: 0 / 0
    verdict = await run.check(provider(spec), spec, {}, AT + 60)
    assert verdict.verdict == "Inconclusive" and verdict.metrics[0].cause == "PartialResponse"
    assert "ArithmeticError" in verdict.metrics[0].message


async def test_throttling_and_an_endpoint_that_does_not_answer_are_unreachable(alb, monkeypatch):
    spec = gates()
    errors = METRICS._errors.labels("aws")._value.get()
    moto_aws.THROTTLE["GetMetricData"] = 2
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert {m.cause for m in verdict.metrics} == {"Unreachable"} and "Throttling" in verdict.metrics[0].message
    assert METRICS._errors.labels("aws")._value.get() == errors + 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    verdict = await run.check(provider(spec, timeout=1), spec, {}, AT)
    assert {m.cause for m in verdict.metrics} == {"Unreachable"} and "unreachable" in verdict.metrics[0].message


async def test_throttling_is_retried_in_botocores_adaptive_mode(alb):
    spec = gates()
    moto_aws.THROTTLE["GetMetricData"] = 2
    verdict = await run.check(CloudWatchGates().provider(spec), spec, {}, AT)
    assert [m.verdict for m in verdict.metrics if m.name == "error-rate"] == ["Pass"]
    assert moto_aws.THROTTLE["GetMetricData"] == 0


async def test_missing_credentials_are_an_access_error(alb, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    spec = gates()
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert {m.cause for m in verdict.metrics} == {"AccessError"}
    assert "no AWS credentials" in verdict.metrics[0].message


async def test_a_long_answer_is_followed_through_its_pages(alb, monkeypatch):
    monkeypatch.setattr(moto_aws, "MAX_DATAPOINTS", 2)
    spec = gates()
    verdict = await run.check(provider(spec), spec, {}, AT)
    assert verdict.verdict == "Inconclusive" and {m.cause for m in verdict.metrics} == {"NoBaseline", ""}
    assert next(m for m in verdict.metrics if m.name == "error-rate").value == pytest.approx(0.001)


async def test_a_baseline_with_last_week_gates_on_the_worse_of_the_two(alb):
    alb.set(latency=0.07)
    alb.history(AT - 7 * 86400 - HOUR, AT - 7 * 86400, step=60)
    spec = gates(compareWithLastWeek=True)
    baseline = await run.baseline(provider(spec), spec, AT)
    assert baseline.values["p99-latency"] == {'{label="p99"}': pytest.approx(0.07)}


async def test_a_baseline_needs_its_traffic_per_period_over_the_window(alb):
    """Traffic is the window's per-period average: 400 requests a minute meets 350, not 450."""
    spec = gates(alb_metrics.error_rate_metric(min_volume=350))
    assert (await run.baseline(provider(spec), spec, AT)).values
    spec = gates(alb_metrics.error_rate_metric(min_volume=450))
    assert "minimum traffic of 450" in (await run.baseline(provider(spec), spec, AT)).missing["error-rate"]


@pytest.mark.parametrize(("window", "period", "expected"), [
    (3600, 60, 3600), (5400, 300, 5400), (5500, 300, 5400), (90, 60, 60), (10, 1, 10), (45, 10, 30), (12, 5, 10),
    (59, 30, 30), (150, 30, 120)], ids=str)
def test_a_baseline_period_is_one_cloudwatch_takes_within_the_window(window, period, expected):
    assert baseline_period(window, period) == expected


async def test_a_promql_metric_asked_of_cloudwatch_is_rejected_not_raised(aws_env):
    spec = gates()
    promql = dataclasses.replace(spec.metrics[0], cloudwatch=None)
    measured = await provider(spec).measure(promql, AT)
    assert measured.error is not None and measured.error.cause == "QueryRejected"
    (baseline,) = await provider(spec).measure_baseline(promql, HOUR, AT, False)
    assert baseline.error is not None and baseline.error.cause == "QueryRejected"

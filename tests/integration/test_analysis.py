"""`tap-optimizer analyze` against moto in server mode, seeded with tap-prod in three regions and
60 days of metrics shaped per scenario."""

from __future__ import annotations

import datetime as dt
import json
import pathlib
import time
from typing import Any

import pytest
import yaml

from tap_optimizer import cli
from tap_optimizer.analysis import costs, gate_check
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer_local import moto_aws
from tap_optimizer_local.aws_platform import NOW, TENANT_TABLE, PlatformBuilder, Scenario
from tap_optimizer_local.moto_aws import Moto
from tap_optimizer_local.prometheus import PrometheusServer, openmetrics
from tests.support import dashboard_samples


def analyze(moto: Moto, tmp_path: pathlib.Path, scenario: Scenario | None = None, *extra: str,
            config: dict[str, Any] | None = None) -> tuple[int, dict[str, Any] | None, dict[str, Any]]:
    """Seed the scenario, run the CLI in-process, return (exit code, plan, analysis)."""
    xr = PlatformBuilder(moto, scenario).build()
    (tmp_path / "xr.yaml").write_text(yaml.safe_dump(xr))
    args = ["analyze", "--platform", str(tmp_path / "xr.yaml"), "--out", str(tmp_path / "plan.yaml"),
            "--analysis-out", str(tmp_path / "analysis.json"), "--now", NOW.isoformat(), *extra]
    if config is not None:
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
        args += ["--config", str(tmp_path / "config.yaml")]
    code = cli.main(args)
    plan_file = tmp_path / "plan.yaml"
    plan = yaml.safe_load(plan_file.read_text()) if plan_file.exists() else None
    analysis = json.loads((tmp_path / "analysis.json").read_text()) if code == 0 else {}
    return code, plan, analysis


def paths(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for phase in plan["spec"]["phases"] for c in phase["changes"]}


def test_over_provisioned_platform_gets_a_valid_plan_with_honest_evidence(aws_env: Moto, tmp_path: pathlib.Path):
    code, plan, analysis = analyze(aws_env, tmp_path)
    assert code == 0
    schema = plan_spec.plan_schema()
    assert validate(schema, apply_defaults(schema, {"spec": plan["spec"]})) == []
    assert plan_spec.spec_errors(plan["spec"]) == []
    assert [p["name"] for p in plan["spec"]["phases"]] == ["dynamodb", "compute", "cache-topology", "database"]
    changes = paths(plan)
    tables = "/spec/parameters/tables"
    # idle GSIs dropped, busy ones kept
    assert f"{tables}/users/globalSecondaryIndexes/ByRole" in changes
    assert f"{tables}/tenants/globalSecondaryIndexes/ByPlan" in changes
    assert f"{tables}/users/globalSecondaryIndexes/ByEmail" not in changes
    # the stream nobody reads is disabled; the one with a Lambda consumer and the one read by GetRecords are kept
    assert changes[f"{tables}/users/streamEnabled"]["value"] is False
    assert f"{tables}/audit_logs/streamEnabled" not in changes
    assert f"{tables}/tenants/streamEnabled" not in changes
    # the tenant's table is untouched and reported
    assert not [p for p in changes if TENANT_TABLE in p]
    assert [e["tenantId"] for e in analysis["excluded"]] == ["acme"]
    # the idle cache shrinks, in two gated steps
    assert changes["/spec/parameters/cache/nodeType"]["value"] == "cache.r6g.xlarge"
    assert {c["path"] for c in plan["spec"]["phases"][2]["changes"]} == {
        "/spec/parameters/cache/shards", "/spec/parameters/cache/replicasPerShard"}
    # one-way doors wait for a person
    assert plan["spec"]["phases"][0]["requiresApproval"] is True
    assert plan["spec"]["phases"][1]["requiresApproval"] is False
    # every change has a reason and evidence; savings add up to the analysis' total
    assert all(c["reason"] and "evidence" in c for c in changes.values())
    total = sum(c["projectedMonthlySavings"] for c in changes.values())
    assert total == pytest.approx(sum(r["projectedMonthlySavings"] for r in analysis["recommendations"]))
    gsi = changes[f"{tables}/users/globalSecondaryIndexes/ByRole"]
    assert gsi["evidence"]["maxWeeklyReads"] < 50 and gsi["evidence"]["weeks"] == 8
    # not allowed by policy: secondary regions and backups stay
    assert "/spec/parameters/database/secondaryRegions" not in changes
    assert "/spec/parameters/database/backupRetentionDays" not in changes
    assert analysis["costs"]["byService"]["Amazon Relational Database Service"] == 21500.0
    assert analysis["pricing"]["source"] and analysis["pricing"]["date"]


def test_the_fleet_is_sized_on_its_hourly_profile_and_priced_by_expected_instance_hours(
        aws_env: Moto, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]):
    code, plan, analysis = analyze(aws_env, tmp_path, None, "--format", "table")
    table = capsys.readouterr().out
    (fleet,) = [r for r in analysis["recommendations"] if r["rule"] == "compute-rightsize"]
    chosen = fleet["options"][0]
    assert (fleet["evidence"]["instancesInService"], fleet["evidence"]["instancesFrom"]) == (
        15, "GroupInServiceInstances")
    # 25 % (+-20 % an hour) of 15 x m5.4xlarge: m5.2xlarge held at the 70 % target, about 11 of them
    assert chosen["target"] == "m5.2xlarge" and 9 <= chosen["minSize"] < chosen["maxSize"]
    assert 10 < chosen["expectedInstances"] < 12 and chosen["heldCpuP95Percent"] <= chosen["targetCpuPercent"]
    assert all(p["p95Percent"] <= p["peakPercent"] <= p["limitPercent"] == 75.0 for p in chosen["projected"])
    assert fleet["projectedMonthlySavings"] == pytest.approx(15 * 0.768 * 730 - chosen["monthlyCost"], abs=0.01)
    assert chosen["monthlyCost"] == pytest.approx(chosen["expectedInstances"] * 0.384 * 730, abs=0.005 * 0.384 * 730)
    assert {c["path"].rsplit("/", 1)[1]: c["value"] for c in paths(plan).values() if "/compute/" in c["path"]} == {
        "instanceType": "m5.2xlarge", "minSize": chosen["minSize"], "desiredCapacity": chosen["desiredCapacity"],
        "maxSize": chosen["maxSize"]}
    # the writer at 30 % (+-20 %) of db.r6g.4xlarge would peak at 72 % of db.r6g.2xlarge: risk 3, kept
    (writer,) = [f for f in analysis["findings"] if f["rule"] == "writer-rightsize"]
    assert writer["options"][0]["target"] == "db.r6g.2xlarge" and writer["options"][0]["riskScore"] == 3
    assert code == 0 and f"Options for {fleet['resource']}, projected p95/peak (limit 75 %)" in table
    assert f"* m5.2xlarge {chosen['minSize']}-{chosen['maxSize']}, {chosen['expectedInstances']} expected" in table
    assert f"saves {fleet['projectedMonthlySavings']:>10,.2f}" in table
    assert analysis["instanceFacts"]["date"] == "2026-11-29" and "Instance facts: AWS documentation" in table


def _until_scraped(url: str) -> None:
    """Until Prometheus has scraped the synthetic service's request counter once."""
    deadline = time.monotonic() + 30
    while not gate_check.answers(url, "tap_requests_total") and time.monotonic() < deadline:
        time.sleep(0.5)


def test_a_plan_whose_gate_queries_return_nothing_is_not_written(aws_env: Moto, tmp_path: pathlib.Path,
                                                                  prometheus: PrometheusServer,
                                                                  capsys: pytest.CaptureFixture[str]):
    _until_scraped(prometheus.url)
    # the synthetic service exports tap_* only: the default preset (http_requests_total) answers nothing
    code, plan, _ = analyze(aws_env, tmp_path, None, "--prometheus-url", prometheus.url, "--format", "none")
    error = capsys.readouterr().err
    assert (code, plan) == (2, None)
    assert f"--gates-preset http: these queries return nothing on {prometheus.url}" in error
    assert "spec.gates.metrics[error-rate].query, spec.gates.metrics[error-rate].volumeQuery, " \
           "spec.gates.metrics[p99-latency].query" in error
    again = ["analyze", "--platform", str(tmp_path / "xr.yaml"), "--out", str(tmp_path / "plan.yaml"),
             "--now", NOW.isoformat(), "--prometheus-url", prometheus.url, "--gates-preset", "tap", "--format", "none"]
    assert cli.main(again) == 0
    plan = yaml.safe_load((tmp_path / "plan.yaml").read_text())
    assert "tap_request_duration_seconds_bucket" in plan["spec"]["gates"]["metrics"][1]["query"]


def test_the_replay_of_history_widens_a_bound_ordinary_days_cross_and_says_so(aws_env: Moto, tmp_path: pathlib.Path,
                                                                             capsys: pytest.CaptureFixture[str]):
    # 14 days of p99 latency sampled every minute, 40 % higher at midday than at night: a plan started
    # at night against a 1 h baseline would cross a +20 % bound every day
    step, end = 60.0, time.time() // 60 * 60 - 60
    moments = [end - i * step for i in range(14 * 1440, -1, -1)]
    peak = [max(0.0, min(1.0, ((t % 86_400) / 3600 - 10) / 2, (16 - (t % 86_400) / 3600) / 2)) for t in moments]
    latency = openmetrics({"tap_latency_seconds": [({}, [(t, 0.1 * (1 + 0.4 * p)) for t, p in zip(moments, peak,
                                                                                                 strict=True)])]})
    gates = tmp_path / "gates.yaml"
    gates.write_text(yaml.safe_dump({"interval": "15m", "observationWindow": "12h", "baselineWindow": "1h",
                                     "metrics": [{"name": "p99-latency", "query": "tap_latency_seconds",
                                                  "maxIncreaseOverBaseline": 0.2}]}))
    with PrometheusServer([], history=latency, retention="100d") as history:
        code, plan, _ = analyze(aws_env, tmp_path, None, "--prometheus-url", history.url, "--gates", str(gates),
                                "--format", "none")
    error = capsys.readouterr().err
    assert code == 0, error
    bound = plan["spec"]["gates"]["metrics"][0]["maxIncreaseOverBaseline"]
    assert bound >= 0.39  # covers the midday peak
    assert "replaying the gates on the last 60 days of" in error
    assert f"gate p99-latency: maxIncreaseOverBaseline 0.2 -> {bound:g}: the replay of " in error


def test_an_unreachable_prometheus_is_a_warning_and_the_plan_is_written(aws_env: Moto, tmp_path: pathlib.Path,
                                                                        capsys: pytest.CaptureFixture[str]):
    code, plan, _ = analyze(aws_env, tmp_path, None, "--prometheus-url", "http://127.0.0.1:9", "--format", "none")
    assert code == 0 and plan is not None
    assert "warning: --prometheus-url did not answer" in capsys.readouterr().err


def test_busy_platform_keeps_compute_cache_and_database(aws_env: Moto, tmp_path: pathlib.Path):
    busy = Scenario(fleet_cpu=70.0, cache_cpu=60.0, writer_cpu=75.0, replica_lag_ms=400.0,
                    idle_indexes=set(), read_streams={"tenants", "users"})
    code, plan, analysis = analyze(aws_env, tmp_path, busy)
    assert code == 0
    assert plan is None, "nothing to change: no plan file"
    kept = {f["rule"] for f in analysis["findings"]}
    assert {"compute-rightsize", "cache-rightsize", "writer-rightsize", "reader-reduce", "unused-gsi"} <= kept
    assert analysis["recommendations"] == []


def test_kinesis_destination_keeps_a_stream(aws_env: Moto, tmp_path: pathlib.Path):
    _, plan, _ = analyze(aws_env, tmp_path, Scenario(kinesis_streams={"users"}))
    assert "/spec/parameters/tables/users/streamEnabled" not in paths(plan)


def test_policy_allows_region_removal_and_shorter_backups(aws_env: Moto, tmp_path: pathlib.Path):
    config = {"policy": {"allowSecondaryRegionRemoval": True, "backupRetentionDays": 14}}
    _, plan, _ = analyze(aws_env, tmp_path, None, config=config)
    changes = paths(plan)
    # us-west-2 served nothing and goes; eu-west-1 served reads and stays
    regions = changes["/spec/parameters/database/secondaryRegions"]["value"]
    assert [r["region"] for r in regions] == ["eu-west-1"]
    assert changes["/spec/parameters/database/backupRetentionDays"]["value"] == 14
    database = plan["spec"]["phases"][-1]
    assert database["name"] == "database" and database["requiresApproval"] is True


def test_calls_are_batched_and_paginated(aws_env: Moto, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch):
    _, _, batched = analyze(aws_env, tmp_path)
    assert batched["apiCalls"]["cloudwatch:GetMetricData"] == 3  # one per region
    aws_env.reset()
    monkeypatch.setattr(moto_aws, "MAX_DATAPOINTS", 200)  # CloudWatch pages at 100,800; force pages here
    _, _, paged = analyze(aws_env, tmp_path)
    assert paged["apiCalls"]["cloudwatch:GetMetricData"] > 3
    def decisions(analysis: dict[str, Any]) -> list[tuple]:
        return [(r["rule"], r["changes"], r["projectedMonthlySavings"]) for r in analysis["recommendations"]]

    assert decisions(paged) == decisions(batched)
    assert paged["utilization"] == batched["utilization"]


@pytest.mark.filterwarnings("ignore:Exception.CloudWatchException. with code Throttling")
def test_throttling_is_retried(aws_env: Moto, tmp_path: pathlib.Path):
    moto_aws.THROTTLE["GetMetricData"] = 2
    code, plan, analysis = analyze(aws_env, tmp_path)
    assert code == 0 and plan is not None
    assert moto_aws.THROTTLE["GetMetricData"] == 0, "both throttled calls were retried"
    assert analysis["apiCalls"]["cloudwatch:GetMetricData"] == 3, "retries are not extra calls of ours"


def test_bad_config_names_the_key(aws_env: Moto, tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]):
    code, _, _ = analyze(aws_env, tmp_path, None, config={"thresholds": {"gsiMaxWeeklyReeds": 10}})
    assert code == 2
    assert "config.thresholds.gsiMaxWeeklyReeds" in capsys.readouterr().err


def _queue_costs(moto: Moto, *totals: float) -> None:
    moto.queue_costs([{"ResultsByTime": [{"TimePeriod": {"Start": "2026-01-01", "End": "2026-01-02"},
                                          "Estimated": False, "Groups": [],
                                          "Total": {"UnblendedCost": {"Amount": str(t), "Unit": "USD"}}}]}
                      for t in totals])


def test_realized_savings_compare_as_many_days_before_as_after(aws_env: Moto):
    today = dt.date(2026, 11, 25)
    applied = (today - dt.timedelta(days=10)).isoformat() + "T08:00:00Z"
    plan = {"metadata": {"name": "rightsize"}, "status": {"phases": [
        {"name": "compute", "state": "Succeeded", "appliedAt": applied},
        {"name": "database", "state": "RolledBack", "appliedAt": applied}]}}
    _queue_costs(aws_env, 1000.0, 700.0)
    (found,) = costs.realized_for_plans(Aws(aws_env.session()), "tap-prod", [plan], today)
    assert found == {"plan": "rightsize", "phase": "compute", "appliedAt": "2026-11-15", "days": 10,
                     "costBefore": 1000.0, "costAfter": 700.0, "monthlySavings": 912.0}


def test_report_draws_realized_savings_from_cost_explorer(aws_env: Moto, tmp_path: pathlib.Path):
    plan = dashboard_samples.succeeded_plan()
    ten_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for phase in plan["status"]["phases"]:
        phase["appliedAt"] = ten_days_ago
    (tmp_path / "plans.yaml").write_text(yaml.safe_dump(plan))
    (tmp_path / "analysis.json").write_text(json.dumps(dashboard_samples.analysis()))
    _queue_costs(aws_env, *[1000.0, 700.0] * len(plan["status"]["phases"]))
    out = tmp_path / "dashboard.html"
    assert cli.main(["report", "--analysis", str(tmp_path / "analysis.json"), "--plans", str(tmp_path / "plans.yaml"),
                     "--out", str(out), "--realized"]) == 0
    assert "realized (Cost Explorer)" in out.read_text()

"""Configuration, queries, batching, prices, the plan writer and the summary."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.stub import Stubber

from tap_optimizer.analysis import cloudwatch, costs, planwriter, pricing_api, queries, recommend, summary
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.config import ConfigError, load_config
from tap_optimizer.analysis.pricing import PriceMissingError, pinned
from tap_optimizer.analysis.rules import registry
from tap_optimizer.openapi import apply_defaults, validate
from tap_optimizer.plan import spec as plan_spec
from tap_optimizer_local import alb_metrics
from tests.unit.analysis.conftest import NOW, WINDOW, context, inventory, table


@pytest.mark.parametrize(("data", "names"), [
    ({"thresholds": {"gsiMaxWeeklyReeds": 1}}, "config.thresholds.gsiMaxWeeklyReeds"),
    ({"targets": {"cacheShards": "six"}}, "config.targets.cacheShards"),
    ({"targets": {"instanceType": "m5.2xlarge"}}, "config.targets.instanceType: unknown"),
    ({"sizing": {"maxRisk": 4}}, "config.sizing.maxRisk: must be 0 to 3"),
    ({"sizing": {"headroomPercent": 100}}, "config.sizing.headroomPercent: must be 0 to 99.9"),
    ({"sizing": {"minFleetSize": 0}}, "config.sizing.minFleetSize: must be >= 1"),
    ({"thresholds": {"writerMaxCpuP95": -1}}, "config.thresholds.writerMaxCpuP95"),
    ({"policy": {"backupRetentionDays": 0}}, "config.policy.backupRetentionDays"),
    ({"policy": {"allowSecondaryRegionRemoval": "yes"}}, "config.policy.allowSecondaryRegionRemoval"),
    ({"rules": {}}, "'rules'"),
    # 0 shards divided the cache's load by zero; 0 replicas planned a change the TapPlatform refuses
    # (the analysis ended in "the generated plan is invalid")
    ({"targets": {"cacheShards": 0}}, "config.targets.cacheShards: must be 1 to 500"),
    ({"targets": {"cacheReplicasPerShard": 0}}, "config.targets.cacheReplicasPerShard: must be 1 to 5"),
    ({"targets": {"readerCount": 16}}, "config.targets.readerCount: must be 0 to 15"),
    (["thresholds"], "expected a mapping"),
])
def test_bad_config_is_refused_naming_the_key(data, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        load_config(data)


def test_config_overrides_keep_the_other_defaults():
    config = load_config({"thresholds": {"writerMaxCpuP95": 25}, "policy": {"backupRetentionDays": 7}})
    assert config.thresholds.writerMaxCpuP95 == 25 and config.thresholds.computeMaxCpuP95 == 40.0
    assert config.policy.backupRetentionDays == 7 and config.policy.allowSecondaryRegionRemoval is False


@pytest.mark.parametrize(("days", "period"), [(1, 900 * 4), (7, 6 * 3600), (60, 86400), (455, 7 * 86400)])
def test_the_period_keeps_a_series_short(days, period):
    if days == 1:
        period = 3600  # 24 points of an hour; 5 minutes would be 288
    assert queries.choose_period(days * 86400) == period


def test_window_ends_at_midnight_and_decodes_into_its_slots():
    assert WINDOW.end == dt.datetime(2026, 11, 25, tzinfo=dt.UTC) and WINDOW.days == 60
    series = queries.Measure("s", "cpu", "r", "n", "m", (), "p95", queries.SERIES)
    summary_measure = queries.Measure("s", "lag", "r", "n", "m", (), "p95")
    second_day = WINDOW.start + dt.timedelta(days=1)
    found = queries.decode([(series, [second_day], [7.0]), (summary_measure, [], [])], WINDOW)
    assert found.daily("s", "cpu")[:3] == [None, 7.0, None] and len(found.daily("s", "cpu")) == 60
    assert found.value("s", "lag") is None


def test_queries_use_the_window_for_summaries_and_the_period_for_series():
    series, summary_query = (queries.Measure("s", "x", "r", "AWS/EC2", "CPUUtilization", (("A", "b"),), "p95", kind)
                             for kind in (queries.SERIES, queries.SUMMARY))
    assert queries.to_query(series, "m0", WINDOW)["MetricStat"]["Period"] == 86400
    assert queries.to_query(summary_query, "m1", WINDOW)["MetricStat"]["Period"] == 60 * 86400
    assert queries.to_query(series, "m0", WINDOW)["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "A", "Value": "b"}]


def test_tenant_resources_are_not_measured_nor_changed(tenanted):
    inv = inventory(tenanted=(tenanted,))
    assert not [m for m in registry.measures(inv) if m.subject.endswith("/users") or "/users/" in m.subject]
    ctx = context(tenanted=(tenanted,))
    assert not [o for o in registry.outcomes(ctx) if "tap-prod-users" in o["resource"]]
    assert recommend.exclusions(ctx) == [{"resource": tenanted.arn, "region": "us-east-1", "tenantId": "acme",
                                          "reason": "Tagged TenantId: tenant resources are never changed."}]


def test_batches_hold_at_most_500_queries_of_one_region():
    measures = [queries.Measure(f"s{i}", "x", region, "n", "m", (), "Sum")
                for region in ("us-east-1", "eu-west-1") for i in range(1201 if region == "us-east-1" else 3)]
    assert [(len(b), b[0].region) for b in cloudwatch.batches(measures)] == [
        (3, "eu-west-1"), (500, "us-east-1"), (500, "us-east-1"), (201, "us-east-1")]


def test_prices_fall_back_to_the_pinned_region_and_say_so():
    book = pinned()
    assert book.priced_at("eu-west-1") == "us-east-1"
    assert book.hourly("ec2", "m5.4xlarge", "eu-west-1") == 0.768
    with pytest.raises(PriceMissingError, match=r"z9\.mega"):
        book.hourly("ec2", "z9.mega", "us-east-1")
    refreshed = book.with_prices("eu-west-1", "ec2", {"m5.4xlarge": 0.856}, "Pricing API", "2026-11-25")
    assert refreshed.hourly("ec2", "m5.4xlarge", "eu-west-1") == 0.856
    assert refreshed.priced_at("eu-west-1") == "eu-west-1" and book.priced_at("eu-west-1") == "us-east-1"
    assert refreshed.provenance()["source"] == "Pricing API"


def _product(usd: str) -> str:
    return json.dumps({"terms": {"OnDemand": {"t": {"priceDimensions": {"d": {"unit": "Hrs",
                                                                            "pricePerUnit": {"USD": usd}}}}}}})


def test_prices_refresh_from_the_pricing_api():
    aws = Aws(boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x"))
    client = aws.client("pricing", pricing_api.PRICING_REGION)
    with Stubber(client) as stub:
        stub.add_response("get_products", {"PriceList": []})  # m5.2xlarge: nothing found
        stub.add_response("get_products", {"PriceList": [_product("0.856")]}, {
            "ServiceCode": "AmazonEC2", "MaxResults": 10, "Filters": [
                {"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in (
                    ("operatingSystem", "Linux"), ("tenancy", "Shared"), ("preInstalledSw", "NA"),
                    ("capacitystatus", "Used"), ("instanceType", "m5.4xlarge"), ("location", "EU (Ireland)"))]})
        book, unknown = pricing_api.refresh(aws, pinned(), {"ec2": {"m5.4xlarge", "m5.2xlarge"}},
                                            ["eu-west-1"], NOW.date())
        stub.assert_no_pending_responses()
    assert book.hourly("ec2", "m5.4xlarge", "eu-west-1") == 0.856
    assert unknown == ["ec2 m5.2xlarge in eu-west-1"]
    assert book.provenance()["source"].startswith("AWS Pricing API")


def test_cost_explorer_groups_add_up_by_service():
    months = [{"Groups": [{"Keys": ["Amazon DynamoDB"], "Metrics": {"UnblendedCost": {"Amount": "10.5",
                                                                                    "Unit": "USD"}}}]},
              {"Groups": [{"Keys": ["Amazon DynamoDB"], "Metrics": {"UnblendedCost": {"Amount": "4.5", "Unit": "USD"}}},
                          {"Keys": ["Amazon ElastiCache"], "Metrics": {"UnblendedCost": {"Amount": "20",
                                                                                         "Unit": "USD"}}}]}]
    assert costs.by_service(months) == ({"Amazon ElastiCache": 20.0, "Amazon DynamoDB": 15.0}, "USD")
    assert costs.by_service([]) == ({}, "USD")


def _recommendation(phase: str, savings: float, irreversible: bool = False, paths=("/spec/parameters/x",),
                    value=1) -> dict:
    return {"rule": "r", "phase": phase, "resource": "res", "region": "us-east-1", "reason": "why",
            "evidence": {"n": 1}, "risk": "low", "irreversible": irreversible, "projectedMonthlySavings": savings,
            "changes": [{"op": "replace", "path": p, "value": value} for p in paths]}


def test_the_plan_orders_phases_and_needs_approval_for_one_way_doors():
    recs = [_recommendation("database", 5.0, paths=("/spec/parameters/database/readerCount",)),
            _recommendation("dynamodb", 2.0, True, ("/spec/parameters/tables/users/streamEnabled",), False),
            _recommendation("compute", 7.0, paths=("/spec/parameters/compute/minSize",
                                                   "/spec/parameters/compute/maxSize"), value=12)]
    plan = planwriter.optimization_plan("tap-prod", "tap", recs, date="2026-11-25",
                                        prometheus_url="http://prometheus:9090")
    assert plan["metadata"]["name"] == "rightsize-tap-prod-20261125"
    assert [(p["name"], p["requiresApproval"]) for p in plan["spec"]["phases"]] == [
        ("dynamodb", True), ("compute", False), ("database", False)]
    assert [c["projectedMonthlySavings"] for c in plan["spec"]["phases"][1]["changes"]] == [7.0, 0.0]
    assert plan["spec"]["gates"]["prometheus"]["url"] == "http://prometheus:9090"
    schema = plan_spec.plan_schema()
    assert validate(schema, apply_defaults(schema, {"spec": plan["spec"]})) == []
    assert plan_spec.spec_errors(plan["spec"]) == []
    assert planwriter.optimization_plan("tap-prod", "tap", [], date="2026-11-25", prometheus_url="http://p") is None


def test_a_plan_written_with_cloudwatch_gates_names_no_prometheus():
    recs = [_recommendation("compute", 7.0, paths=("/spec/parameters/compute/minSize",), value=12)]
    gates = alb_metrics.gates("us-east-1", period="60s", baselineWindow="1h")
    plan = planwriter.optimization_plan("tap-prod", "tap", recs, date="2026-11-25",
                                        prometheus_url="http://prometheus:9090", gates=gates)
    assert "prometheus" not in plan["spec"]["gates"] and plan_spec.spec_errors(plan["spec"]) == []


def test_the_summary_names_every_decision_and_the_total():
    ctx = context(tables=(table(),))
    recs = [_recommendation("compute", 1234.5)]
    analysis = {"platform": {"name": "tap-prod", "regions": ["us-east-1"]}, "window": {"days": 60,
                "end": "2026-11-25T00:00:00+00:00"}, "pricing": pinned().provenance(), "recommendations": recs,
                "findings": recommend.split(registry.outcomes(ctx))[1][:1], "excluded": [],
                "apiCalls": {"cloudwatch:GetMetricData": 3}}
    text = summary.table(analysis)
    assert "1,234.50" in text and "AWS API calls: 3" in text and "Cost Explorer: no data" in text


def test_the_registry_asks_each_measure_once_and_names_each_rule_once():
    found = registry.measures(inventory())
    assert len(found) == len(set(found)) and {m.subject for m in found} >= {
        "table/users", "index/users/ByRole", "stream/users", "fleet/tap-prod-compute-asg",
        "cache/tap-prod-cache/n1", "cluster/tap-prod-database-cluster", "cluster/west"}
    names = [rule.name for rule in registry.RULES]
    assert len(names) == len(set(names)) and names[0] == "unused-gsi"

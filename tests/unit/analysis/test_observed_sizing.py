"""The observed inputs of issue 15 (cases/14-rightsize-without-projected-utilization), with
literal 60-day measurements, and the right value: no recommendation, or one that fits, with its
projected utilization and risk."""

from __future__ import annotations

import pytest

from tap_optimizer.analysis.inventory import Fleet
from tap_optimizer.analysis.rules import database
from tap_optimizer.analysis.rules.fleet import fleet
from tests.unit.analysis.conftest import PRIMARY, REGION, context, hourly, one, parameters

HOURS = 730
HOURS_60_DAYS = 1440
ASG = "fleet/tap-prod-compute-asg"
CLUSTER = "cluster/tap-prod-database-cluster"


def fleet_load(cpu: float, network: float = 1e8) -> dict:
    """Summaries and flat hourly profiles: p95 CPU percent, bytes per datapoint in and out each."""
    summaries = {(ASG, "cpu"): cpu, (ASG, "networkIn"): network, (ASG, "networkOut"): network}
    return {"summaries": summaries, "profiles": {key: hourly(value) for key, value in summaries.items()}}


def options_by_target(outcome: dict) -> dict[str, dict]:
    return {o["target"]: o for o in outcome["options"]}


def projected(option: dict, dimension: str) -> dict:
    return next(p for p in option["projected"] if p["dimension"] == dimension)


def test_30_m5_4xlarge_at_35_percent_gets_a_fleet_whose_peak_fits():
    # case 14: 30 x m5.4xlarge (min 20, max 40) at p95 CPU 35 %; the old rule's 15 x m5.2xlarge
    # would run at 35 x 30 x 16 / (15 x 8) = 140 %.
    group = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 20, 30, 40)
    outcome = one(fleet(context(**fleet_load(35.0)), group))
    # 168 vCPU of demand at the 70 % target: 15 x m5.4xlarge or 30 x m5.2xlarge, the same price;
    # the tie goes to the larger type (fewer instances, no type change).
    assert {c["path"].rsplit("/", 1)[1]: c["value"] for c in outcome["changes"]} == {
        "minSize": 15, "desiredCapacity": 15, "maxSize": 19}
    chosen, smaller = outcome["options"][0], options_by_target(outcome)["m5.2xlarge"]
    assert (chosen["target"], chosen["heldCpuP95Percent"], chosen["expectedInstances"]) == ("m5.4xlarge", 70.0, 15)
    assert projected(chosen, "CPU at maxSize")["peakPercent"] == pytest.approx(100 * 168 / (19 * 16), abs=0.1)
    assert (smaller["minSize"], smaller["maxSize"], smaller["heldCpuPeakPercent"]) == (30, 38, 70.0)
    assert all(p["peakPercent"] <= p["limitPercent"] == 75.0 for o in outcome["options"] for p in o["projected"])
    assert (outcome["riskScore"], outcome["risk"]) == (2, "medium")  # 55 % at maxSize of a 75 % limit
    assert outcome["projectedMonthlySavings"] == pytest.approx((30 - 15) * 0.768 * HOURS, abs=0.01)


def test_a_db_r6g_8xlarge_writer_at_39_percent_is_kept_with_every_option_named():
    # case 14: the old rule proposed db.r6g.xlarge, 39 x 32 / 4 = 312 % CPU.
    params = parameters()
    params["database"]["writerInstanceClass"] = "db.r6g.8xlarge"
    profiles = {(CLUSTER, "writerCpu"): hourly(39.0), (CLUSTER, "writerConnections"): hourly(1500.0)}
    ctx = context({(CLUSTER, "writerCpu"): 39.0}, profiles=profiles, parameters=params)
    outcome = one(database.writer(ctx, PRIMARY))
    assert "changes" not in outcome
    assert outcome["reason"].startswith("Kept: no option for db.r6g.8xlarge fits within risk 2; best: "
                                        "db.r6g.4xlarge: CPU p95 78 %, peak 78 %, connections p95 38 %")
    cpu = {o["target"]: projected(o, "CPU")["p95Percent"] for o in outcome["options"]}
    assert cpu == {"db.r6g.4xlarge": 78.0, "db.r6g.2xlarge": 156.0, "db.r6g.xlarge": 312.0}
    assert {o["riskScore"] for o in outcome["options"]} == {4} and not any(o["fits"] for o in outcome["options"])


def test_the_demo_fleet_is_priced_at_the_size_its_policy_would_hold():
    # case: 25 % CPU on 15 x m5.4xlarge; the old plan priced 8 x m5.2xlarge (about 94 % CPU) at
    # 6,167.04 USD/month; target tracking at 70 % holds 11 of them.
    group = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 12, 15, 25)
    outcome = one(fleet(context(**fleet_load(25.0)), group))
    assert outcome["changes"][0] == {"op": "replace", "path": "/spec/parameters/compute/instanceType",
                                     "value": "m5.2xlarge"}
    chosen = outcome["options"][0]
    assert (chosen["expectedInstances"], chosen["heldCpuP95Percent"]) == (11, pytest.approx(100 * 60 / 88, abs=0.1))
    assert outcome["projectedMonthlySavings"] == pytest.approx((15 * 0.768 - 11 * 0.384) * HOURS, abs=0.01)
    assert outcome["projectedMonthlySavings"] < 6167.04


def test_risk_follows_the_projected_margins():
    # "every compute recommendation says risk medium, whatever the numbers"
    group = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 1, 15, 25)
    fleets = {cpu: one(fleet(context(**fleet_load(cpu)), group))["riskScore"] for cpu in (5.0, 25.0)}
    writers = {}
    for cpu in (3.0, 6.0, 7.0):
        profiles = {(CLUSTER, "writerCpu"): hourly(cpu), (CLUSTER, "writerConnections"): hourly(100.0)}
        ctx = context({(CLUSTER, "writerCpu"): cpu}, profiles=profiles)
        writers[cpu] = one(database.writer(ctx, PRIMARY))["riskScore"]
    # 5 %: 3 x m5.2xlarge held, maxSize 4, 37.5 % at maxSize (0.5 of the limit); 25 %: 11, maxSize 14, 53 %.
    # a db.r6g.4xlarge writer at 3, 6, 7 % runs db.r6g.large at 24, 48, 56 % (limit 75 %).
    assert fleets == {5.0: 0, 25.0: 2}
    assert writers == {3.0: 0, 6.0: 1, 7.0: 2}


def test_network_that_a_smaller_fleet_could_not_carry_keeps_the_fleet():
    # "nothing checks network bandwidth on a smaller instance": 15 x m5.4xlarge at 5 % CPU moving
    # 1.4 Gbit/s each (28 % of 5 Gbit/s, under the 30 % threshold). Target tracking on CPU would hold
    # 3 x m5.2xlarge or 2 x m5.4xlarge: 7 or 10.5 Gbit/s each, over their baseline bandwidth.
    group = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 12, 15, 25)
    outcome = one(fleet(context(**fleet_load(5.0, network=1.4e9 / 8 * 60 / 2)), group))
    assert "changes" not in outcome
    assert "best: m5.4xlarge: CPU at maxSize p95 25 %, peak 25 %, network p95 210 %" in outcome["reason"]
    assert {o["target"]: projected(o, "network")["peakPercent"] for o in outcome["options"]} == {
        "m5.2xlarge": 280.0, "m5.4xlarge": 210.0}


def test_savings_count_the_instances_the_group_ran_not_its_desired_capacity_now():
    # desired 30 at the time of the analysis, 15 in service in every hour of the window, p95 CPU 35 %:
    # the demand is 84 vCPU (not 168), held by 15 x m5.2xlarge (8 x m5.4xlarge cost more) at the 70 %
    # target; the saving is 15 m5.4xlarge-hours less 15 m5.2xlarge-hours (it claimed 30 m5.4xlarge
    # less 15, from the desired capacity of one moment).
    group = Fleet("tap-prod-compute-asg", REGION, "arn:asg", "m5.4xlarge", 10, 30, 40)
    load = fleet_load(35.0)
    load["profiles"][(ASG, "instances")] = hourly(15.0)
    outcome = one(fleet(context(**load), group))
    assert {c["path"].rsplit("/", 1)[1]: c["value"] for c in outcome["changes"]} == {
        "instanceType": "m5.2xlarge", "minSize": 15, "desiredCapacity": 15, "maxSize": 19}
    assert options_by_target(outcome)["m5.4xlarge"]["expectedInstances"] == 8
    assert (outcome["evidence"]["instancesInService"], outcome["evidence"]["instancesFrom"]) == (
        15, "GroupInServiceInstances")
    assert outcome["projectedMonthlySavings"] == pytest.approx(15 * (0.768 - 0.384) * HOURS, abs=0.01)
    # without the group's metrics, the desired capacity now stands for every hour
    assert one(fleet(context(**fleet_load(35.0)), group))["options"][0]["expectedInstances"] == 15
    # collected only for the last 10 days: the 50 days before still count, at the desired capacity
    load["profiles"][(ASG, "instances")] = [None] * (HOURS_60_DAYS - 240) + [15.0] * 240
    late = one(fleet(context(**load), group))
    assert late["evidence"]["hoursMeasured"] == HOURS_60_DAYS
    assert late["evidence"]["instancesInService"] == pytest.approx((1200 * 30 + 240 * 15) / 1440)

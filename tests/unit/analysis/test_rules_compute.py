"""The compute rules: the Auto Scaling group and the cache."""

from __future__ import annotations

import pytest

from tap_optimizer.analysis.inventory import Cache, Fleet
from tap_optimizer.analysis.rules import compute
from tests.unit.analysis.conftest import CACHE, FLEET, REGION, context

HOURS = 730
FLEET_OK = {("fleet/tap-prod-compute-asg", "cpu"): 25.0, ("fleet/tap-prod-compute-asg", "networkIn"): 1e8,
            ("fleet/tap-prod-compute-asg", "networkOut"): 1e8}


def cache_load(cpu: float = 10.0, memory: float = 5.0, commands: float = 3000.0, nodes=("n1", "n2")) -> dict:
    out = {}
    for node in nodes:
        out |= {(f"cache/tap-prod-cache/{node}", "cpu"): cpu, (f"cache/tap-prod-cache/{node}", "memory"): memory,
                (f"cache/tap-prod-cache/{node}", "gets"): commands, (f"cache/tap-prod-cache/{node}", "sets"): commands}
    return out


def test_network_percent_is_p95_traffic_against_baseline_bandwidth():
    # 375 MB a minute in and out is 100 Mbit/s... of 5 Gbit/s: 2 %
    assert compute.network_percent(375e6 / 2, 375e6 / 2, 5.0) == pytest.approx(100 * 50e6 / 5e9)


def test_an_idle_fleet_moves_to_the_target_size_with_priced_savings():
    outcome = compute.fleet(context(FLEET_OK), FLEET)
    assert [c["path"].rsplit("/", 1)[1] for c in outcome["changes"]] == [
        "instanceType", "minSize", "desiredCapacity", "maxSize"]
    assert [c["value"] for c in outcome["changes"]] == ["m5.2xlarge", 6, 8, 15]
    assert outcome["projectedMonthlySavings"] == pytest.approx(15 * 0.768 * HOURS - 8 * 0.384 * HOURS, abs=0.01)


@pytest.mark.parametrize(("metric", "value"), [("cpu", 40.0), ("networkIn", 1.2e10)])
def test_a_busy_fleet_is_kept(metric, value):
    outcome = compute.fleet(context({**FLEET_OK, ("fleet/tap-prod-compute-asg", metric): value}), FLEET)
    assert "changes" not in outcome and "Kept" in outcome["reason"]


def test_a_fleet_without_metrics_or_price_is_kept():
    missing = compute.fleet(context({**FLEET_OK, ("fleet/tap-prod-compute-asg", "cpu"): None}), FLEET)
    assert "changes" not in missing and "cpu" in missing["reason"]
    unpriced = compute.fleet(context(FLEET_OK), Fleet("tap-prod-compute-asg", REGION, "arn", "z9.mega", 1, 2, 3))
    assert "changes" not in unpriced and "z9.mega" in unpriced["reason"]


def test_a_fleet_already_small_is_kept():
    small = Fleet("tap-prod-compute-asg", REGION, "arn", "m5.2xlarge", 2, 4, 8)
    assert "changes" not in compute.fleet(context(FLEET_OK), small)


def test_an_idle_cache_shrinks_in_two_steps():
    node_type, topology = compute.cache_rightsize(context(cache_load()), CACHE)
    assert node_type["phase"] == "compute" and node_type["changes"] == [
        {"op": "replace", "path": "/spec/parameters/cache/nodeType", "value": "cache.r6g.xlarge"}]
    assert topology["phase"] == "cache-topology"
    assert {c["path"]: c["value"] for c in topology["changes"]} == {
        "/spec/parameters/cache/shards": 2, "/spec/parameters/cache/replicasPerShard": 1}
    assert node_type["projectedMonthlySavings"] == pytest.approx(12 * (1.642 - 0.411) * HOURS, abs=0.01)
    assert topology["projectedMonthlySavings"] == pytest.approx((12 - 4) * 0.411 * HOURS, abs=0.01)


@pytest.mark.parametrize("load", [{"cpu": 31.0}, {"memory": 55.0}, {"commands": 400_000.0},
                                  {"memory": 20.0}])  # 20 % of 4 x 105.8 GiB does not fit in 2 x 26.3 GiB
def test_a_busy_cache_or_one_whose_data_would_not_fit_is_kept(load):
    (outcome,) = compute.cache_rightsize(context(cache_load(**load)), CACHE)
    assert "changes" not in outcome and "Kept" in outcome["reason"]


def test_a_cache_with_a_node_without_metrics_is_kept():
    load = cache_load()
    load[("cache/tap-prod-cache/n2", "memory")] = None
    (outcome,) = compute.cache_rightsize(context(load), CACHE)
    assert "changes" not in outcome and "memoryP95" in outcome["reason"]


def test_a_cache_at_the_target_is_kept():
    small = Cache("tap-prod-cache", REGION, "arn", "cache.r6g.xlarge", 2, 1, ("n1", "n2"))
    (outcome,) = compute.cache_rightsize(context(cache_load()), small)
    assert "changes" not in outcome and "target" in outcome["reason"]

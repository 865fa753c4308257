"""Benchmark: `analyze` on a larger platform (issue 15): 3 regions, each one TapPlatform with 20
tables of 5 GSIs, one fleet, one cache and one Aurora cluster, 60 days of hourly metrics in moto
(server mode). Prints the AWS calls by operation and the wall time; checks that metric calls stay
batched: at most one GetMetricData call per 500 queries per region (pages included)."""

from __future__ import annotations

import collections
import copy
import math
import time

import pytest

from tap_optimizer.analysis import engine
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.pricing import pinned
from tap_optimizer_local.aws_platform import NOW, PlatformBuilder, Scenario
from tap_optimizer_local.moto_aws import moto_server

pytestmark = pytest.mark.bench
REGIONS = ("us-east-1", "us-west-2", "eu-west-1")
TABLES, INDEXES = 20, 5


def wide(builder: PlatformBuilder, region: str) -> None:
    """The builder's platform moved to `region`, without secondary regions, with TABLES tables of
    INDEXES indexes each (the reference's tables, an index more, and copies of `users`)."""
    params = builder.params
    params["region"] = region
    params["database"]["secondaryRegions"] = []
    tables = params["tables"]
    for spec in tables.values():
        extra = copy.deepcopy(next(iter(spec["globalSecondaryIndexes"].values())))
        spec["globalSecondaryIndexes"]["ByExtra"] = extra
    owned = [k for k in tables if k != "tenant_acme"]
    for i in range(TABLES - len(owned)):
        tables[f"extra{i:02d}"] = copy.deepcopy(tables["users"])
    assert all(len(t["globalSecondaryIndexes"]) == INDEXES for t in tables.values())


def test_wide_platform_calls_and_wall_time(monkeypatch: pytest.MonkeyPatch):
    with moto_server() as moto:
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
        platforms = []
        for region in REGIONS:
            builder = PlatformBuilder(moto, Scenario(lambda_streams=set()))
            wide(builder, region)
            platforms.append((region, builder.build()))
        calls: collections.Counter[str] = collections.Counter()
        queries: dict[str, int] = {}
        started = time.perf_counter()
        for region, xr in platforms:
            aws = Aws(moto.session())
            lines: list[str] = []
            result = engine.run(aws, engine.Request(xr=xr, regions=[region], now=NOW), pinned(), lines.append)
            queries[region] = int(next(line for line in lines if line.startswith("metrics: ")).split()[1])
            calls.update(aws.calls)
            assert aws.calls["cloudwatch:GetMetricData"] <= math.ceil(queries[region] / 500)
            assert len([r for r in result.analysis["recommendations"] if r["rule"] == "unused-gsi"]) >= 2
        seconds = time.perf_counter() - started
    print(f"\nanalyze, {len(REGIONS)} regions x ({TABLES} tables x {INDEXES} GSIs, 1 fleet, 1 cache, 1 cluster), "
          f"60 days hourly: {seconds:.2f} s wall time for the 3 analyses")
    print(f"  metric queries per region: {queries}; AWS API calls: {sum(calls.values())}")
    for operation, count in sorted(calls.items()):
        print(f"    {count:4d}  {operation}")

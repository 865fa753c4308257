"""Benchmark: AWS API calls and wall time of `analyze` on tap-prod in 3 regions with 60 days of
hourly metrics (moto in server mode), next to what one call per metric would take.

The one-call-per-metric figure is what the prototype did (GetMetricStatistics per metric per
resource): the same discovery calls plus one call for every measure the rules read. It is
counted, not run: moto's GetMetricStatistics scans every stored datapoint per call.
"""

from __future__ import annotations

import os
import statistics
import time

import pytest

from tap_optimizer.analysis import discovery, engine
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.pricing import pinned
from tap_optimizer.analysis.rules import registry
from tap_optimizer_local.aws_platform import NOW, PlatformBuilder
from tap_optimizer_local.moto_aws import moto_server

pytestmark = pytest.mark.bench
RUNS = 3


def test_analysis_calls_and_wall_time(monkeypatch: pytest.MonkeyPatch):
    with moto_server() as moto:
        monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
        xr = PlatformBuilder(moto).build()
        points = sum(len(moto.cloudwatch_backend(r).metric_data) for r in discovery.regions_of(xr))
        request = engine.Request(xr=xr, regions=discovery.regions_of(xr), now=NOW)
        seconds, calls = [], {}
        for _ in range(RUNS):
            aws = Aws(moto.session())
            started = time.perf_counter()
            result = engine.run(aws, request, pinned(), progress=lambda _line: None)
            seconds.append(time.perf_counter() - started)
            calls = dict(aws.calls)
        inventory = discovery.discover(Aws(moto.session()), xr, request.regions, progress=lambda _line: None)
        measures = len(registry.measures(inventory))
    ours = sum(calls.values())
    metric_calls = calls["cloudwatch:GetMetricData"]
    naive = ours - metric_calls + measures
    print(f"\nanalyze, 3 regions x 60 days, {points:,} stored datapoints, {measures} measures, "
          f"{len(result.analysis['recommendations'])} recommendations")
    print(f"  wall time: median {statistics.median(seconds):.2f} s over {RUNS} runs "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}); CPU count {os.cpu_count()}")
    print(f"  AWS API calls: {ours} ({metric_calls} GetMetricData); one call per metric: {naive} "
          f"({measures} metric calls): {naive / ours:.1f}x fewer in all, {measures / metric_calls:.0f}x fewer "
          "metric calls")
    for operation, count in sorted(calls.items()):
        print(f"    {count:4d}  {operation}")
    assert metric_calls == len(request.regions)

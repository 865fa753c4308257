"""Benchmark: one gate check (the platform's two default SLO metrics) against the real local
Prometheus scraping the synthetic service.

Prints the median and p95 latency of a check and the HTTP requests per check, counted by
Prometheus itself. Figures, not assertions on time.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest

from tap_optimizer.gates.prometheus import PrometheusGates
from tap_optimizer.plan.spec import Gates, parse
from tap_optimizer_local import slo
from tap_optimizer_local.prometheus import PrometheusServer, check_until
from tap_optimizer_local.synthetic_service import SyntheticService
from tests.support.plans import three_phase_spec

CHECKS = 50


async def baseline_of_every_metric(gates: PrometheusGates, spec: Gates) -> dict[str, Any]:
    """The baseline, once the scraped history has a value for every metric (a few seconds after start)."""
    async with asyncio.timeout(30):
        while len(baseline := await gates.baseline(spec)) < len(spec.metrics):
            await asyncio.sleep(0.5)
    return baseline


@pytest.mark.bench
async def test_gate_check_latency():
    with SyntheticService() as service, PrometheusServer([f"127.0.0.1:{service.port}"]) as prometheus:
        spec = parse(three_phase_spec(gates=slo.gates(prometheus.url))).gates
        async with PrometheusGates() as gates:
            baseline = await baseline_of_every_metric(gates, spec)
            await check_until(gates, spec, baseline, "Pass")
            await asyncio.sleep(0.2)  # Prometheus counts a request once it has answered it
            before = prometheus.query_requests()
            seconds, verdicts = [], []
            for _ in range(CHECKS):
                start = time.perf_counter()
                verdicts.append((await gates.check(spec, baseline)).verdict)
                seconds.append(time.perf_counter() - start)
            await asyncio.sleep(0.2)
            requests = prometheus.query_requests() - before
    p95 = statistics.quantiles(seconds, n=20)[18]
    print(f"\ngate check ({len(spec.metrics)} metrics) x {CHECKS}: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms, {requests / CHECKS:g} HTTP requests per check, "
          f"verdicts {dict((v, verdicts.count(v)) for v in sorted(set(verdicts)))}")

"""Benchmark: the what-if replay of the reference plan's two gates (error rate with its traffic,
p99 latency against a 1 h baseline) over 60 days at a 15-minute step, against the real Prometheus
on promtool-backfilled history.

Prints the fetch figures (query_range requests, points, seconds: Prometheus' time) and the replay's
own seconds (excluding Prometheus), starts and checks. Figures, not assertions on time.
"""

from __future__ import annotations

import math
import random
import time

import pytest

from tap_optimizer.gates import backtest
from tap_optimizer.gates.prometheus import PrometheusGates, fetch_history
from tap_optimizer.plan.spec import GateMetric, Gates
from tap_optimizer_local.prometheus import PrometheusServer, openmetrics

STEP, DAY, DAYS = 900.0, 86_400.0, 60
END = math.floor(time.time() / STEP) * STEP - STEP


def history() -> str:
    rng = random.Random(60)
    moments = [END - i * STEP for i in range(int(DAYS * DAY / STEP), -1, -1)]
    diurnal = [1 + 0.15 * math.sin(2 * math.pi * (t % DAY) / DAY) for t in moments]
    return openmetrics({
        "tap_error_ratio": [({}, [(t, rng.uniform(0, 0.004)) for t in moments])],
        "tap_requests": [({}, [(t, 100 * d) for t, d in zip(moments, diurnal, strict=True)])],
        "tap_p99_seconds": [({}, [(t, 0.05 * d * rng.uniform(0.97, 1.03)) for t, d in zip(moments, diurnal,
                                                                                          strict=True)])],
    })


@pytest.mark.bench
async def test_backtest_replay_of_sixty_days():
    with PrometheusServer([], history=history(), retention="100d") as prometheus:
        spec = Gates(prometheus_url=prometheus.url, timeout=30, bearer_token_secret=None, ca_secret=None,
                     insecure_skip_verify=False, interval=STEP, observation_window=48 * 3600, baseline_window=3600,
                     compare_with_last_week=False, inconclusive_limit=3, on_inconclusive="RollBack", metrics=(
                         GateMetric("error-rate", "tap_error_ratio", 0.005, None, None, "tap_requests", 1),
                         GateMetric("p99-latency", "tap_p99_seconds", None, None, 0.2, None, None)))
        started = time.perf_counter()
        async with PrometheusGates() as client:
            found = await fetch_history(client.provider(spec), spec, END, DAYS)
        fetched = time.perf_counter() - started
        points = sum(len(series) for m in found.metrics.values()
                     for q in (m.query, m.volume, *[b for pair in m.baselines for b in pair]) if q is not None
                     for series in q.steps)
        started = time.perf_counter()
        report = backtest.replay(spec, found)
        replayed = time.perf_counter() - started
        checks = sum(sum(s["checks"].values()) for s in report["starts"])
    print(f"\nbacktest, {DAYS} days x 2 metrics at a {STEP:g} s step: {found.requests} query_range requests, "
          f"{points} points, fetch {fetched:.2f} s (Prometheus); replay {replayed:.2f} s for "
          f"{report['outcomes']['simulated']} starts and {checks} checks judged "
          f"({replayed / max(1, checks) * 1e6:.1f} us a check); rate {report['falseRollbackRate']:.3f}")
    assert found.requests == 6 and report["coveredDays"] == DAYS

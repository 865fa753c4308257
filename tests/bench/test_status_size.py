"""Benchmark: the bytes of a plan's status, for the worst case the CRD admits (20 metrics of 8,000
long-labelled series, 4 KiB queries, 20 phases, a whole window of checks) and for the reference
plan with the default window (48 h every 15 m), and where the worst case's bytes go."""

from __future__ import annotations

import pytest

from tests.support.status_size import BUDGET, size, typical_status, worst_case_status


@pytest.mark.bench
def test_status_bytes():
    worst, typical = worst_case_status(), typical_status()
    observed = worst["phases"][1]
    parts = {"baseline": size(worst["baseline"]) + size(worst.get("baselineOverflow", {})),
             "gateQueries": size(worst["gateQueries"]),
             "observed phase: compact checks": size(observed["checks"]),
             "observed phase: detailed checks": size(observed["gates"]),
             "recorded changes (all phases)": sum(size(p.get("changes", [])) for p in worst["phases"]),
             "finished phases without changes": sum(size({k: v for k, v in p.items() if k != "changes"})
                                                    for p in worst["phases"] if p["state"] == "Succeeded")}
    print(f"\nstatus bytes, worst case the CRD admits: {size(worst):,} (budget {BUDGET:,})")
    for part, count in parts.items():
        print(f"  {part}: {count:,}")
    print(f"status bytes, reference plan through 3 phases of 48 h at 15 m: {size(typical):,}")
    assert size(worst) <= BUDGET

"""analyze's bounds from the replay: widened where ordinary history crosses them, kept where it
stays within, never tightened, untouched without enough windows; each choice said in a sentence."""

from __future__ import annotations

from tap_optimizer.analysis.gate_bounds import MIN_WINDOWS, tuned

GATES = {"interval": "15m", "metrics": [
    {"name": "error-rate", "query": "e", "max": 0.005},
    {"name": "p99-latency", "query": "l", "maxIncreaseOverBaseline": 0.2},
    {"name": "throughput", "query": "t", "min": 100}]}


def report(windows: int = 40, independent: int = 14, **recommended: dict) -> dict:
    return {"coveredDays": 14, "independentWindows": independent,
            "metrics": [{"name": name, "recommended": {"windows": windows, **found}}
                        for name, found in recommended.items()]}


def test_a_bound_ordinary_days_cross_is_widened_and_said():
    found, notes = tuned(GATES, report(**{"p99-latency": {"maxIncreaseOverBaseline": 0.45},
                                          "throughput": {"min": 60.0}}))
    metrics = {m["name"]: m for m in found["metrics"]}
    assert metrics["p99-latency"]["maxIncreaseOverBaseline"] == 0.45
    assert metrics["throughput"]["min"] == 60.0
    assert "gate p99-latency: maxIncreaseOverBaseline 0.2 -> 0.45: the replay of 14 days shows ordinary" in notes[1]
    assert "gate throughput: min 100 -> 60" in notes[2]
    assert notes[0] == "gate error-rate: bounds kept; the replay of 14 days judged 0 windows, fewer than 10"
    assert GATES["metrics"][1]["maxIncreaseOverBaseline"] == 0.2  # the input is not changed


def test_a_bound_history_stays_within_is_kept_never_tightened():
    found, notes = tuned(GATES, report(**{"error-rate": {"max": 0.0011}, "throughput": {"min": 250.0}}))
    metrics = {m["name"]: m for m in found["metrics"]}
    assert metrics["error-rate"]["max"] == 0.005 and metrics["throughput"]["min"] == 100
    assert notes[:1] + notes[2:] == [
        "gate error-rate: max 0.005 kept: the replay of 14 days stays within it (at most 5% of harmless windows "
        "reach 0.0011)",
        "gate throughput: min 100 kept: the replay of 14 days stays within it (at most 5% of harmless windows "
        "reach 250)"]


def test_too_few_windows_change_nothing_and_say_why():
    found, notes = tuned(GATES, report(windows=MIN_WINDOWS - 1, **{"error-rate": {"max": 0.02}}))
    assert found == GATES
    assert notes[0] == f"gate error-rate: bounds kept; the replay of 14 days judged {MIN_WINDOWS - 1} windows, " \
                       f"fewer than {MIN_WINDOWS}"


def test_overlapping_windows_of_too_little_history_change_nothing():
    # analyze --days 3 with 48 h windows: 24 hourly starts in the first day, one window's worth of history
    found, notes = tuned(GATES, report(windows=24, independent=1, **{"error-rate": {"max": 0.02}}))
    assert found == GATES
    assert notes[0] == f"gate error-rate: bounds kept; the replay of 14 days judged 24 overlapping windows, 1 of " \
                       f"them independent, fewer than {MIN_WINDOWS}"

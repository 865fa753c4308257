"""The what-if replay against the real Prometheus server, on history backfilled with `promtool tsdb
create-blocks-from openmetrics`: known noise gives a known rate, a diurnal peak traps a relative
bound, a gap is inconclusive, coverage is what the server holds, the replay says what the live gate
said, and 60 days take a handful of requests.

One server for the module (about a second to backfill and start); every series is a gauge sampled
at the 15-minute check steps, so each check sees one sample."""

from __future__ import annotations

import dataclasses
import json
import math
import pathlib
import random
import time

import pytest
import yaml

from tap_optimizer import cli
from tap_optimizer.gates import backtest, evaluate, run
from tap_optimizer.gates.prometheus import PrometheusGates, fetch_history
from tap_optimizer.plan.spec import GateMetric, Gates
from tap_optimizer_local.prometheus import PrometheusServer, openmetrics
from tests.support.plans import three_phase_spec

STEP = 900.0
DAY = 86_400.0
END = math.floor(time.time() / STEP) * STEP - STEP  # the fixture's "now": the last sample
NOISE_P = 0.01  # each check of the noise metric fails with this probability, independently
NOISE_MAX = 0.01 * (1 - NOISE_P)  # values are uniform on [0, 0.01)
GAP = (END - 3 * DAY, END - 3 * DAY + 6 * 3600)  # no samples in [start, end)
RENAMED = END - 5 * DAY  # tap_renamed_ratio has no samples after this (its metric was renamed)


def steps(days: float, skip: tuple[float, float] | None = None) -> list[float]:
    count = int(days * DAY / STEP)
    moments = [END - i * STEP for i in range(count, -1, -1)]
    return [t for t in moments if skip is None or not skip[0] <= t < skip[1]]


def peak(moment: float) -> float:
    """0 at night, 1 from 12:00 to 14:00 UTC, ramping over the two hours either side."""
    hour = (moment % DAY) / 3600
    return max(0.0, min(1.0, (hour - 10) / 2, (16 - hour) / 2))


def history() -> str:
    rng = random.Random(17)
    flat = [({}, [(t, 10.0) for t in steps(60)])]
    return openmetrics({
        "tap_noise_ratio": [({}, [(t, rng.random() * 0.01) for t in steps(30)])],
        "tap_requests": flat,
        "tap_latency_seconds": [({}, [(t, 0.1 * (1 + 0.4 * peak(t)) * (1 + rng.uniform(-0.01, 0.01)))
                                      for t in steps(20)])],
        "tap_gap_ratio": [({}, [(t, 0.001) for t in steps(10, skip=GAP)])],
        "tap_short_ratio": [({}, [(t, 0.001) for t in steps(15)])],
        "tap_renamed_ratio": [({}, [(t, 0.001) for t in steps(20) if t <= RENAMED])],
        "tap_flaky_ratio": [({}, [(t, 0.02 if rng.random() < 0.03 else 0.001) for t in steps(10, skip=GAP)])],
        "tap_tenant_ratio": [({"tenant": tenant}, [(t, 0.001 * (1 + rng.random())) for t in steps(10)])
                             for tenant in ("acme", "globex")],
        "tap_quiet_ratio": [({}, [(t, 0.5 if quiet(t) else 0.001) for t in steps(10)])],
        "tap_quiet_requests": [({}, [(t, 1.0 if quiet(t) else 1000.0) for t in steps(10)])],
    })


def quiet(moment: float) -> bool:
    """00:00 to 05:00 UTC: one request a step, whose error ratio swings to 0.5."""
    return (moment % DAY) / 3600 < 5


@pytest.fixture(scope="module")
def prometheus():
    with PrometheusServer([], history=history(), retention="100d") as server:
        yield server


def metric(name: str, query: str, **bounds: float | str | None) -> GateMetric:
    given = {"max": None, "min": None, "max_increase_over_baseline": None, "volume_query": None, "min_volume": None}
    return GateMetric(name, query, **{**given, **bounds})  # type: ignore[arg-type]


def gates(url: str, *metrics: GateMetric, **changes: float | int | str | bool) -> Gates:
    made = Gates(prometheus_url=url, timeout=30, bearer_token_secret=None, ca_secret=None, insecure_skip_verify=False,
                 interval=STEP, observation_window=12 * 3600, baseline_window=3600, compare_with_last_week=False,
                 inconclusive_limit=3, on_inconclusive="RollBack", metrics=metrics)
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


async def replay(spec: Gates, days: float, **options) -> tuple[backtest.History, dict]:
    async with PrometheusGates() as client:
        found = await fetch_history(client.provider(spec), spec, END, days)
    return found, backtest.replay(spec, found, backtest.Options(**options))


NOISE = metric("error-rate", "tap_noise_ratio", max=NOISE_MAX, volume_query="tap_requests", min_volume=1)
LATENCY = metric("p99-latency", "tap_latency_seconds", max_increase_over_baseline=0.2)


async def test_known_noise_gives_the_analytic_rate_within_the_reported_interval(prometheus):
    spec = gates(prometheus.url, NOISE)
    _, report = await replay(spec, 30)
    analytic = 1 - (1 - NOISE_P) ** report["gates"]["checksPerWindow"]  # 48 checks: 0.38
    low, high = report["interval95"]
    assert low <= analytic <= high, (report["falseRollbackRate"], analytic, report["interval95"])
    # starts were possible over 30 days less the 1 h baseline and the last 12 h window: 59 disjoint windows
    assert report["independentWindows"] == 59
    assert report["outcomes"]["judged"] > 600
    assert abs(report["perCheckFailShare"] - NOISE_P) < 0.005
    failure = report["failures"][0]
    assert failure["metric"] == "error-rate" and failure["value"] > NOISE_MAX
    assert failure["message"].startswith("error-rate{} = ") and "> max 0.0099" in failure["message"]


async def test_a_diurnal_peak_fails_starts_before_it_and_passes_starts_at_it(prometheus):
    spec = gates(prometheus.url, LATENCY)
    _, report = await replay(spec, 20)
    hours = {row["hour"]: row["rate"] for row in report["byStartHour"]}
    assert hours[3] == 1.0  # 03:00 baseline, the window reaches the +40 % peak at noon
    assert hours[13] == 0.0  # the baseline is the peak; the window only comes down from it
    recommended = report["metrics"][0]["recommended"]["maxIncreaseOverBaseline"]
    assert recommended >= 0.4  # covers the peak
    assert "p99-latency{} = " in report["failures"][0]["message"] and "+20%" in report["failures"][0]["message"]


async def test_a_gap_is_inconclusive_never_a_pass(prometheus):
    spec = gates(prometheus.url, metric("error-rate", "tap_gap_ratio", max=0.005), observation_window=6 * 3600)
    _, report = await replay(spec, 10)
    in_gap = [row for row in report["timeline"]
              if GAP[0] <= backtest_time(row["at"]) < GAP[1]]
    assert len(in_gap) == 24
    assert {row["verdict"] for row in in_gap} == {"Inconclusive"}
    assert {m["cause"] for row in in_gap for m in row["metrics"]} == {"NoData"}
    assert report["metrics"][0]["inconclusiveByCause"] == {"NoData": 24}
    assert report["metrics"][0]["verdicts"]["Pass"] == len(report["timeline"]) - 24
    window = spec.observation_window
    for start in report["starts"]:
        begins = backtest_time(start["start"])
        # its checks, at begins + k * STEP (k >= 1), meet the gap; a start at the gap's last step
        # checks only after it (whether such a start exists depends on the wall clock's alignment)
        if begins + STEP < GAP[1] and begins + window >= GAP[0]:
            if start["outcome"] == "Pass":  # started late in the gap: the window was extended past it
                assert start["checks"].get("Inconclusive", 0) > 0 and start["checks"]["Pass"] == window / STEP
            else:
                assert start["outcome"] == "Inconclusive" and start["reason"] == "rolled back"
    assert report["outcomes"]["Inconclusive"] > 0 and report["falseRollbackRate"] > 0


def backtest_time(text: str) -> float:
    import datetime as dt  # noqa: PLC0415

    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def test_asking_for_more_days_than_the_server_holds_reports_what_it_covered(prometheus):
    spec = gates(prometheus.url, metric("error-rate", "tap_short_ratio", max=0.005))
    _, report = await replay(spec, 60)
    assert report["askedDays"] == 60
    assert report["coveredDays"] == pytest.approx(15, abs=0.02)
    assert report["coverage"]["error-rate.query"]["coveredDays"] == pytest.approx(15, abs=0.02)
    first_start = backtest_time(report["starts"][0]["start"])
    assert first_start >= END - 15 * DAY + 3600


async def test_the_replayed_verdict_is_the_live_gates_verdict_at_the_same_time(prometheus):
    tenants = metric("tenant-errors", "tap_tenant_ratio", max=0.0019, max_increase_over_baseline=0.5)
    spec = gates(prometheus.url, NOISE, LATENCY, tenants)
    found, _ = await replay(spec, 10)
    replayed = backtest.Replay(spec, found)
    rng = random.Random(20)
    grid = found.grid
    async with PrometheusGates() as client:
        provider = client.provider(spec)
        for _ in range(20):
            start = rng.randrange(grid.index(END - 9 * DAY), grid.index(END) - 1)
            at = start + rng.randrange(1, 48)
            baselines, _missing = replayed.baseline(start)
            live_baseline = await run.baseline(provider, spec, grid.time(start))
            cap = 200 // len(spec.metrics)
            for name, values in live_baseline.values.items():
                assert evaluate.stored_baseline(*evaluate.capped(values, cap)).series == \
                    pytest.approx(dict(baselines[name].series), rel=1e-9)
            live = await run.check(provider, spec, baselines, grid.time(at))
            assert replayed.check(at, baselines) == live


async def test_sixty_days_of_two_metrics_take_six_requests(prometheus):
    spec = gates(prometheus.url, metric("error-rate", "tap_noise_ratio", max=0.005, volume_query="tap_requests",
                                        min_volume=1), LATENCY)
    before = prometheus.query_requests("/api/v1/query_range")
    found, report = await replay(spec, 60)
    assert prometheus.query_requests("/api/v1/query_range") - before == found.requests == 6
    assert report["requests"] == 6


async def test_sixty_days_at_one_minute_are_chunked_under_the_point_limit(prometheus):
    spec = gates(prometheus.url, metric("error-rate", "tap_requests", max=100), interval=60,
                 observation_window=3600)
    before = prometheus.query_requests("/api/v1/query_range")
    async with PrometheusGates() as client:
        found = await fetch_history(client.provider(spec), spec, END, 60)
    chunks = backtest.chunks(found.grid)
    assert len(chunks) == 8 and max(last - first + 1 for first, last in chunks) <= backtest.MAX_POINTS
    assert prometheus.query_requests("/api/v1/query_range") - before == 2 * 8  # the metric and its baseline
    for history in (found.metrics["error-rate"].query, found.metrics["error-rate"].baselines[0][0]):
        assert history.errors == {}  # no bad_data: every chunk was answered
    assert found.metrics["error-rate"].query.coverage(found.grid)[2] > 5000


# -- the command line ---------------------------------------------------------------------------

def plan_file(tmp_path, interval: str = "15m", window: str = "12h", **backtest_policy) -> str:
    body = three_phase_spec()
    body["gates"] = {"interval": interval, "observationWindow": window, "baselineWindow": "1h", "metrics": [
        {"name": "error-rate", "query": "tap_noise_ratio", "max": NOISE_MAX, "volumeQuery": "tap_requests",
         "minVolume": 1},
        {"name": "p99-latency", "query": "tap_latency_seconds", "maxIncreaseOverBaseline": 0.2}]}
    if backtest_policy:
        body["gates"]["backtest"] = backtest_policy
    plan = {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": "rightsize", "namespace": "tap"}, "spec": body}
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    return str(path)


def test_the_command_exits_1_above_the_plans_policy_and_writes_the_report(prometheus, tmp_path, capsys):
    out = tmp_path / "report.json"
    code = cli.main(["backtest", plan_file(tmp_path, days=10, maxFalseRollbackRate=0.05), "--prometheus-url",
                     prometheus.url, "--end", iso(END), "--out", str(out), "--inject", "p99-latency*1.5"])
    printed = capsys.readouterr()
    assert code == 1
    assert "false-rollback rate: " in printed.out and "policy maxFalseRollbackRate 0.05: EXCEEDED" in printed.out
    assert "injected p99-latency x1.5: caught in 100.0%" in printed.out
    assert "fetched 6/6 query_range requests" in printed.err and "judged" in printed.err  # progress
    report = json.loads(out.read_text())
    assert report["coveredDays"] == 10 and report["requests"] == 6 and report["timeline"] and report["starts"]
    assert report["falseRollbackRate"] > 0.05


def test_the_command_exits_0_within_a_given_rate_and_prints_json(prometheus, tmp_path, capsys):
    code = cli.main(["backtest", plan_file(tmp_path), "--prometheus-url", prometheus.url, "--end", iso(END),
                     "--days", "3", "--format", "json", "--max-false-rollback-rate", "1"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["askedDays"] == 3 and "timeline" not in report


@pytest.mark.parametrize(("args", "named"), [
    (["--days", "0"], "--days: expected 1 to 400"),
    (["--days", "0.01"], "--days: expected 1 to 400, got 0.01"),
    (["--start-every", "20m"], "--start-every 20m: plans start on a check step; give a multiple of "
                               "spec.gates.interval (900 s)"),
    (["--inject", "latency*2"], "--inject latency*2: no gate metric 'latency'"),
    (["--start-every", "often"], "--start-every: expected a duration"),
    (["--end", "yesterday"], "--end: expected an RFC 3339 time"),
    (["--no-url"], "spec.gates.endpoint: required"),
], ids=["days out of range", "days below one", "starts off the check steps",
        "a regression of a metric the plan lacks", "a bad duration", "a bad time",
        "no endpoint to ask"])
def test_bad_input_exits_2_naming_the_flag_or_field(prometheus, tmp_path, capsys, args, named):
    base = ["backtest", plan_file(tmp_path)]
    base += [] if args == ["--no-url"] else ["--prometheus-url", prometheus.url, *args]
    assert cli.main(base) == 2
    assert named in capsys.readouterr().err


def iso(moment: float) -> str:
    import datetime as dt  # noqa: PLC0415

    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat().replace("+00:00", "Z")


# -- what the review found ----------------------------------------------------------------------

@pytest.fixture
def no_backoff(monkeypatch):
    from tap_optimizer.gates import prometheus  # noqa: PLC0415

    monkeypatch.setattr(prometheus, "BACKOFF_SECONDS", 0.0)


def test_an_unreachable_prometheus_prints_the_table_and_says_it_did_not_answer(tmp_path, capsys, no_backoff):
    code = cli.main(["backtest", plan_file(tmp_path), "--prometheus-url", "http://127.0.0.1:1",
                     "--end", "2000-01-01T00:00:00Z", "--days", "1"])
    printed = capsys.readouterr()
    assert code == 1
    assert "false-rollback rate: n/a (no start judged)" in printed.out
    rows = [line.split() for line in printed.out.splitlines() if line.startswith(("error-rate", "p99-latency"))]
    assert [row[:3] for row in rows] == [["error-rate", "0", "n/a"], ["p99-latency", "0", "n/a"]]
    assert "error: no simulated start could be judged: Prometheus did not answer: Prometheus at " \
           "http://127.0.0.1:1 is unreachable" in printed.err
    assert "too little history" not in printed.err


def test_a_ca_file_that_is_not_pem_exits_2_naming_the_flag(tmp_path, capsys):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    code = cli.main(["backtest", plan_file(tmp_path), "--prometheus-url", "http://127.0.0.1:1",
                     "--ca-file", str(bad), "--days", "1"])
    assert code == 2
    assert f"error: --ca-file {bad}: not a valid PEM CA bundle" in capsys.readouterr().err


def test_a_bad_prometheus_url_names_the_flag(tmp_path, capsys):
    assert cli.main(["backtest", plan_file(tmp_path), "--prometheus-url", "ftp://x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --prometheus-url ftp://x: ") and "TAP_OPTIMIZER_PROMETHEUS_URL" not in err


def test_more_steps_than_the_cap_exit_2_naming_days_and_the_interval(tmp_path, capsys):
    code = cli.main(["backtest", plan_file(tmp_path, interval="15s", window="1h"), "--prometheus-url", "http://127.0.0.1:1",
                     "--days", "30"])
    assert code == 2
    assert "error: --days 30 with spec.gates.interval: 30 days at interval 15 s are 172,800 check steps per " \
           "query; a backtest asks at most 86,400" in capsys.readouterr().err


def test_a_query_pinned_to_the_range_is_refused_naming_it(tmp_path, capsys):
    path = plan_file(tmp_path)
    plan = yaml.safe_load(pathlib.Path(path).read_text())
    plan["spec"]["gates"]["metrics"][1]["query"] = "tap_latency_seconds @ end()"
    pathlib.Path(path).write_text(yaml.safe_dump(plan))
    assert cli.main(["backtest", path, "--prometheus-url", "http://127.0.0.1:1", "--days", "1"]) == 2
    assert "spec.gates.metrics[p99-latency].query: uses `@ end()`, which a replay evaluates at its range's end, " \
           "not at each check" in capsys.readouterr().err


async def test_independent_windows_are_judged_non_overlapping_starts(prometheus):
    spec = gates(prometheus.url, metric("error-rate", "tap_short_ratio", max=0.005))
    _, sparse = await replay(spec, 10, start_every=4 * DAY)
    assert sparse["outcomes"]["judged"] == 2 and sparse["independentWindows"] == 2  # not 10 days / 12 h = 20
    assert sparse["gates"]["startEvery"] == 4 * DAY
    _, weekly = await replay(dataclasses.replace(spec, compare_with_last_week=True), 10)
    # the server holds 15 days: starts were possible from 7 days + 1 h after the data's start (the lead is
    # not counted) to 12 h before the end: 15 disjoint 12 h windows among the hourly starts of those 7 days
    # 10 h, not 10 days / 12 h = 20
    first, last = (backtest_time(weekly["starts"][i]["start"]) for i in (0, -1))
    assert END - 8 * DAY + 3600 <= first < END - 8 * DAY + 2 * 3600
    assert weekly["outcomes"]["judged"] == len(weekly["starts"])
    assert weekly["independentWindows"] == (last - first) // (12 * 3600) + 1 == 15


def test_independent_windows_never_exceed_the_judged_starts():
    window = 3.0  # the reviewer's case: interval 1 s, 3 s windows, 47 hourly starts over 2 days
    starts = [backtest.StartOutcome(3600.0 * i, "Pass", 3600.0 * i + window) for i in range(47)]
    assert backtest.independent_windows(starts, window) == 47
    overlapping = [backtest.StartOutcome(i * 900.0, "Fail", i * 900.0 + 900) for i in range(96)]  # 15 m apart
    assert backtest.independent_windows(overlapping, 12 * 3600) == 2
    extended = [backtest.StartOutcome(0.0, "Pass", 20 * 3600.0), backtest.StartOutcome(12 * 3600.0, "Pass")]
    assert backtest.independent_windows(extended, 12 * 3600) == 1  # the first window ran 20 h


async def test_paused_starts_are_left_out_of_the_rate_and_every_view_agrees(prometheus):
    flaky = metric("error-rate", "tap_flaky_ratio", max=0.005)
    spec = gates(prometheus.url, flaky, observation_window=6 * 3600, on_inconclusive="Pause")
    _, report = await replay(spec, 10)
    by = report["outcomes"]
    paused = [s for s in report["starts"] if s["outcome"] == "Paused"]
    assert by["Paused"] == len(paused) > 0 and by["Inconclusive"] == 0
    assert by["judged"] == by["Pass"] + by["Fail"] == by["simulated"] - by["Paused"] - by["NoBaseline"] - \
        by["Unfinished"]
    assert report["falseRollbackRate"] == pytest.approx(by["Fail"] / by["judged"])
    hours = report["byStartHour"]
    assert sum(row["starts"] for row in hours) == by["judged"]
    assert sum(row["rolledBack"] for row in hours) == by["Fail"] == report["falseRollbacks"]
    assert all(f["verdict"] == "Fail" for f in report["failures"])
    rolled_back = dataclasses.replace(spec, on_inconclusive="RollBack")
    _, same = await replay(rolled_back, 10)  # the same starts roll back instead: in the rate
    assert same["outcomes"]["Inconclusive"] == by["Paused"] and same["outcomes"]["judged"] == by["simulated"] - \
        by["NoBaseline"] - by["Unfinished"]
    table = cli.backtest_table(report)
    assert f"{by['Paused']} paused on inconclusive checks" in table
    assert f"false-rollback rate: {report['falseRollbackRate']:.1%}" in table


async def test_a_query_that_stopped_answering_is_judged_up_to_the_end_and_warned_of(prometheus, tmp_path, capsys):
    spec = gates(prometheus.url, metric("error-rate", "tap_renamed_ratio", max=0.005))
    _, report = await replay(spec, 20)
    assert report["coveredDays"] == pytest.approx(20, abs=0.02) and report["to"] == iso(END)
    last_starts = [s for s in report["starts"] if backtest_time(s["start"]) > RENAMED]
    assert last_starts and {s["outcome"] for s in last_starts} == {"Inconclusive"}
    assert report["falseRollbackRate"] > 0.2
    tail = [row for row in report["timeline"] if backtest_time(row["at"]) > RENAMED]
    assert {m["cause"] for row in tail for m in row["metrics"]} == {"NoData"}
    assert report["warnings"] == [f"error-rate.query (tap_renamed_ratio) returns nothing after {iso(RENAMED)}, "
                                  f"up to the end {iso(END)}: a plan started now would be Inconclusive (NoData) "
                                  "on every check"]


async def test_recommended_bounds_leave_out_what_the_gates_never_judge_for_too_little_traffic(prometheus):
    quiet_ratio = metric("error-rate", "tap_quiet_ratio", max=0.005, min=0.0005, volume_query="tap_quiet_requests",
                         min_volume=10)
    _, report = await replay(gates(prometheus.url, quiet_ratio, inconclusive_limit=30), 10)
    (found,) = report["metrics"]
    assert found["inconclusiveByCause"]["LowTraffic"] > 0 and report["falseRollbackRate"] == 0
    # the quiet hours' 0.5 is LowTraffic, never a Fail: bounds from the judged values only
    assert found["recommended"]["max"] == 0.001 and found["recommended"]["min"] == 0.001


def test_a_plan_whose_interval_does_not_divide_an_hour_starts_every_nearest_multiple(prometheus, tmp_path, capsys):
    code = cli.main(["backtest", plan_file(tmp_path, interval="25m"), "--prometheus-url", prometheus.url, "--end",
                     iso(END), "--days", "3", "--format", "json", "--max-false-rollback-rate", "1"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    report = json.loads(printed.out)
    assert report["gates"]["startEvery"] == 3000 and report["outcomes"]["simulated"] > 0


def test_an_end_in_the_future_replays_up_to_now(prometheus, tmp_path, capsys):
    later = iso(time.time() + 2 * DAY)
    code = cli.main(["backtest", plan_file(tmp_path), "--prometheus-url", prometheus.url, "--end", later,
                     "--days", "3", "--format", "json", "--max-false-rollback-rate", "1"])
    printed = capsys.readouterr()
    report = json.loads(printed.out)
    assert code == 0 and backtest_time(report["to"]) <= time.time()
    assert report["outcomes"]["Inconclusive"] == 0  # no start rolled back on the future's missing data
    assert f"note: --end {later} is in the future: replaying up to now" in printed.err


def test_a_query_prometheus_refuses_exits_2_naming_it(prometheus, tmp_path, capsys):
    path = plan_file(tmp_path)
    plan = yaml.safe_load(pathlib.Path(path).read_text())
    plan["spec"]["gates"]["metrics"][0]["query"] = "tap_noise_ratio{"
    pathlib.Path(path).write_text(yaml.safe_dump(plan))
    assert cli.main(["backtest", path, "--prometheus-url", prometheus.url, "--end", iso(END), "--days", "3"]) == 2
    err = capsys.readouterr().err
    assert f"error: {path}: Prometheus refused the query: spec.gates.metrics[error-rate].query: Prometheus answered " \
           "HTTP 400: bad_data: " in err


@pytest.mark.parametrize("changes", [{"compare_with_last_week": True}, {"baseline_window": 4 * DAY}],
                         ids=["a week ago", "a baseline window longer than the asked days"])
async def test_the_baselines_of_the_first_starts_look_back_before_the_asked_days(prometheus, changes):
    spec = gates(prometheus.url, metric("error-rate", "tap_short_ratio", max=0.005), **changes)
    _, report = await replay(spec, 3)  # the server holds 15 days
    assert report["coveredDays"] == 3 and report["from"] == iso(END - 3 * DAY)
    assert backtest_time(report["starts"][0]["start"]) < END - 3 * DAY + 3600
    assert report["outcomes"]["judged"] == report["outcomes"]["Pass"] > 40

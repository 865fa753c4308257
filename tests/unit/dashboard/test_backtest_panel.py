"""The backtest panel: a report of the real replay (on a synthetic history with a spike and a gap)
drawn as value / bound over time, the unjudged checks, and the simulated rollbacks marked; the
`report --backtest` flag draws it and refuses what is not a report, naming the flag."""

from __future__ import annotations

import json
import math

import pytest

from tap_optimizer import cli
from tap_optimizer.dashboard import figures
from tap_optimizer.dashboard.backtest import backtest_view
from tap_optimizer.dashboard.html import render_page
from tap_optimizer.gates import backtest
from tap_optimizer.plan.spec import GateMetric, Gates

STEP = 900.0
END = math.floor(1_764_000_000 / STEP) * STEP
SPIKE, GAP = 100, range(140, 150)  # the spike's step; the steps with no data


def report(days: float = 2, window: float = 6 * 3600) -> dict:
    grid = backtest.Grid.ending(END, days * 86_400, STEP)
    query = backtest.QueryHistory.empty("tap_error_ratio", grid)
    for index in range(grid.count):
        if index not in GAP:
            query.steps[index].append(({}, 0.02 if index == SPIKE else 0.001))
    gates = Gates(prometheus_url="http://prometheus:9090", timeout=30, bearer_token_secret=None, ca_secret=None,
                  insecure_skip_verify=False, interval=STEP, observation_window=window, baseline_window=3600,
                  compare_with_last_week=False, inconclusive_limit=3, on_inconclusive="RollBack",
                  metrics=(GateMetric("error-rate", "tap_error_ratio", 0.005, None, None, None, None),))
    history = backtest.History(grid, days, {"error-rate": backtest.MetricHistory(query)})
    return backtest.replay(gates, history)


def test_the_view_draws_value_over_bound_the_gap_and_the_rollbacks():
    found = report()
    view = backtest_view(found)
    (line,) = view.lines
    assert line.name == "error-rate" and len(line.times) == len(found["timeline"])
    assert max(r for r in line.ratios if r is not None) == pytest.approx(0.02 / 0.005)
    assert min(r for r in line.ratios if r is not None) == pytest.approx(0.001 / 0.005)
    assert {cause for _, cause in view.inconclusive} == {"NoData"} and len(view.inconclusive) == len(GAP)
    assert [f.ratio for f in view.failures if f.ratio] == [pytest.approx(4.0)]
    assert all("error-rate{} = 0.02 > max 0.005" in f.message for f in view.failures if f.ratio)
    assert view.title.startswith("Backtest: 2 of 2 days replayed; a harmless change would have been rolled back")


def test_the_figure_has_the_line_the_unjudged_checks_and_the_rollbacks():
    fig = figures.backtest_figure(backtest_view(report()))
    names = [trace.name for trace in fig.data]
    assert names == ["error-rate", "inconclusive check", "simulated rollback"]
    rollbacks = fig.data[2]
    assert max(rollbacks.y) == pytest.approx(4.0) and "rolled back" in rollbacks.hovertext[0]


def test_the_page_has_the_panel_or_says_how_to_get_one():
    assert figures.NO_BACKTEST.split(":")[0] in render_page(None, [])
    page = render_page(None, [], backtests=[report()])
    assert "Backtest: the gates replayed on history" in page and "simulated rollback" in page


def test_report_draws_a_backtest_and_refuses_what_is_not_one(tmp_path, analysis_file, capsys):
    good, bad = tmp_path / "report.json", tmp_path / "bad.json"
    good.write_text(json.dumps(report()))
    bad.write_text(json.dumps({"falseRollbackRate": 0.1}))
    out = tmp_path / "dashboard.html"
    assert cli.main(["report", "--analysis", str(analysis_file), "--backtest", str(good), "--out", str(out)]) == 0
    assert "simulated rollback" in out.read_text()
    assert cli.main(["report", "--analysis", str(analysis_file), "--backtest", str(bad), "--out", str(out)]) == 2
    assert f"--backtest {bad}: not a backtest report (it needs `timeline` and `gates`)" in capsys.readouterr().err


def test_a_report_of_no_judged_start_says_why_in_the_panel(tmp_path, analysis_file):
    found = report(days=1, window=48 * 3600)  # analyze or backtest --days 1 with the default 48 h window
    assert found["outcomes"]["judged"] == 0 and found["timeline"] == []
    assert backtest_view(found).title == "Backtest: 1 of 1 days replayed; no start could be judged: the 1 days " \
                                         "covered are shorter than one observationWindow (48 h): no whole window " \
                                         "to judge"
    path, out = tmp_path / "report.json", tmp_path / "dashboard.html"
    path.write_text(json.dumps(found))
    assert cli.main(["report", "--analysis", str(analysis_file), "--backtest", str(path), "--out", str(out)]) == 0
    assert "no whole window to judge" in out.read_text()

"""Each panel plots exactly the numbers of its input, and says so in a sentence when it has none."""

from __future__ import annotations

import pytest

from tap_optimizer.dashboard import figures
from tap_optimizer.dashboard.data import plotly_time, projected_by_phase, realized_by_phase
from tests.support.dashboard_samples import P99_BASELINE, P99_BOUND, plan_object


def sentences(fig) -> list[str]:
    return [a.text for a in fig.layout.annotations]


def trace(fig, name: str):
    (found,) = [t for t in fig.data if t.name == name]
    return found


def assert_empty(fig, sentence: str) -> None:
    assert fig.data == ()
    assert sentence in sentences(fig)


# -- cost ------------------------------------------------------------------------------------------

def test_cost_bars_are_cost_explorers_amounts_by_service(analysis):
    fig = figures.cost_figure(analysis["costs"])
    (bars,) = fig.data
    assert dict(zip(bars.y, bars.x, strict=True)) == analysis["costs"]["byService"]
    assert bars.y[-1] == "Amazon Elastic Compute Cloud - Compute"  # the largest on top
    assert "31,904.75 USD" in fig.layout.title.text


@pytest.mark.parametrize("costs", [None, {"start": "a", "end": "b", "currency": "USD", "byService": {}, "total": 0}])
def test_without_cost_explorer_data_the_cost_panel_says_so(costs):
    assert_empty(figures.cost_figure(costs), figures.NO_COSTS)


# -- timeline --------------------------------------------------------------------------------------

def test_the_timeline_draws_each_phase_from_start_to_end_with_every_gate_check(succeeded):
    fig = figures.timeline_figure(succeeded)
    bars, phases = trace(fig, "Succeeded"), succeeded["status"]["phases"]
    assert list(bars.y) == [p["name"] for p in phases]
    assert list(bars.base) == [plotly_time(p["startedAt"]) for p in phases]
    assert bars.x[0] == (4 * 60 + 10) * 60 * 1000  # started 12:00, applied 12:10, passed 16:10
    assert list(trace(fig, "applied").x) == [plotly_time(p["appliedAt"]) for p in phases]
    compact = [c for p in phases for c in p["checks"]]
    assert len(trace(fig, "gate checks").x) == len(compact) == 3 * 8, "what a passed phase keeps of its checks"
    assert [c[3] for c in compact if c[2] == "error-rate"] == list(trace(fig, "error-rate").y)
    assert set(trace(fig, "error-rate bound").y) == {0.005}


def test_a_failed_gate_check_is_red_with_its_value_bound_and_query(rolled_back):
    fig = figures.timeline_figure(rolled_back)
    assert {t.name for t in fig.data if t.type == "bar"} == {"RolledBack"}
    latency = trace(fig, "p99-latency")
    colours = list(latency.marker.color)
    assert colours.count(figures.VERDICT_COLOURS["Fail"]) == 1
    failed = colours.index(figures.VERDICT_COLOURS["Fail"])
    assert latency.y[failed] == 0.61 and trace(fig, "p99-latency bound").y[failed] == P99_BOUND
    assert "histogram_quantile(0.99" in latency.hovertext[failed] and "Fail" in latency.hovertext[failed]
    assert max(latency.y[:failed]) < P99_BOUND and min(latency.y) > P99_BASELINE - 0.1


def test_a_plan_that_has_not_started_says_so():
    fig = figures.timeline_figure(plan_object("fresh"))
    assert fig.data == ()
    assert any("tap/fresh has not started a phase yet" in s for s in sentences(fig))


# -- utilization -----------------------------------------------------------------------------------

def test_one_heatmap_per_metric_whose_cells_are_the_daily_values_and_gaps_stay_empty(analysis):
    cpu, memory = figures.utilization_figures(analysis["utilization"])
    (heatmap,) = cpu.data
    series = [s for s in analysis["utilization"] if s["metric"] == "CPUUtilization p95"]
    assert [list(row) for row in heatmap.z] == [s["values"] for s in series]
    assert list(heatmap.x) == series[0]["days"] and None in heatmap.z[0]
    assert list(heatmap.y) == [f"{s['resource']} ({s['region']})" for s in series]
    assert (heatmap.zmin, heatmap.zmax) == (0, 100)  # a percentage keeps its whole scale
    assert "DatabaseMemoryUsagePercentage" in memory.layout.title.text


def test_series_over_different_days_line_up_by_date():
    series = [{"resource": "a", "region": "r", "metric": "m", "unit": "u", "days": ["d1", "d2"], "values": [1.0, 2.0]},
              {"resource": "b", "region": "r", "metric": "m", "unit": "u", "days": ["d2", "d3"], "values": [3.0, 4.0]}]
    (fig,) = figures.utilization_figures(series)
    assert list(fig.data[0].x) == ["d1", "d2", "d3"]
    assert [list(row) for row in fig.data[0].z] == [[1.0, 2.0, None], [None, 3.0, 4.0]]
    assert fig.data[0].zmin is None  # other units scale to their data


def test_without_utilization_the_panel_says_so():
    (fig,) = figures.utilization_figures([])
    assert_empty(fig, figures.NO_UTILIZATION)


# -- savings ---------------------------------------------------------------------------------------

def test_projected_savings_per_phase_sum_the_recommendations_and_realized_stand_beside_them(analysis):
    source, projected = projected_by_phase(analysis, [])
    fig = figures.savings_figure(projected, realized_by_phase(analysis["realized"]), source)
    bars = trace(fig, "projected (from analysis)")
    assert list(bars.x) == ["dynamodb", "compute", "database"]
    assert list(bars.y) == [41.2 + 18.4, 4200.0 + 1310.4, 2190.0 + 640.0 + 85.3]
    assert list(trace(fig, "projected, cumulative").y) == [59.6, 5570.0, 8485.3]
    assert list(trace(fig, "realized (Cost Explorer)").y) == [57.0, None, None]
    assert figures.NO_REALIZED not in sentences(fig)


def test_without_realized_data_the_savings_panel_says_so_and_draws_none(analysis, succeeded):
    source, projected = projected_by_phase(None, [succeeded])
    fig = figures.savings_figure(projected, {}, source)
    assert source == "plans" and list(trace(fig, "projected (from plans)").y) == [59.6, 5510.4, 2915.3]
    assert [t.name for t in fig.data] == ["projected (from plans)", "projected, cumulative"]
    assert figures.NO_REALIZED in sentences(fig)


def test_without_any_projection_the_savings_panel_says_so():
    assert_empty(figures.savings_figure({}, {}, "plans"), figures.NO_PROJECTION)


# -- risk ------------------------------------------------------------------------------------------

def test_every_recommendation_is_a_point_at_its_risk_and_savings_one_way_doors_as_crosses(analysis):
    fig = figures.risk_figure(analysis["recommendations"])
    points = {(x, y, t.marker.symbol) for t in fig.data for x, y in zip(t.x, t.y, strict=True)}
    assert points == {(r["risk"], r["projectedMonthlySavings"], "x" if r["irreversible"] else "circle")
                      for r in analysis["recommendations"]}
    hover = " ".join(h for t in fig.data for h in t.hovertext)
    assert all(r["reason"] in hover for r in analysis["recommendations"])


def test_without_recommendations_the_risk_panel_says_so():
    assert_empty(figures.risk_figure([]), figures.NO_RECOMMENDATIONS)


def test_a_phase_with_a_full_gate_history_says_older_checks_are_not_shown(succeeded):
    first = succeeded["status"]["phases"][0]
    assert figures.TRUNCATED not in sentences(figures.timeline_figure(succeeded))
    first["checksDropped"] = 5
    assert figures.TRUNCATED in sentences(figures.timeline_figure(succeeded))

"""One Plotly figure per panel, from the analysis document and plan objects; no I/O.

Every string that reaches a figure is HTML-escaped: Plotly renders a subset of HTML in labels and
hover text, and resource names come from AWS tags. A panel without data is a figure without
traces that says so in a sentence, never a chart of invented numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tap_optimizer.analysis.document import CostBreakdown, Recommendation, UtilizationSeries
from tap_optimizer.dashboard.backtest import BacktestView
from tap_optimizer.dashboard.data import (
    Check,
    Grid,
    MetricCheck,
    Segment,
    checks_dropped,
    gate_checks,
    phase_segments,
    plan_name,
    utilization_grids,
)
from tap_optimizer.plan.evidence import FINISHED_CHECKS, MAX_CHECK_RECORDS

NO_BACKTEST = ("No backtest report was given: run `tap-optimizer backtest plan.yaml --out report.json` and pass "
               "it with --backtest.")
NO_COSTS = "No Cost Explorer data in this analysis (run analyze with Cost Explorer access)."
NO_UTILIZATION = "No utilization series in this analysis: CloudWatch returned no datapoints for the window."
NO_RECOMMENDATIONS = "No recommendations in this analysis: no rule fired (see the findings table for why)."
NO_PROJECTION = "No projected savings: neither an analysis with recommendations nor a plan with changes was given."
NO_REALIZED = ("No realized savings yet: `report --realized` measures them from Cost Explorer once a phase has been "
               "applied long enough to compare the days before and after it.")
TRUNCATED = (f"The plan's status keeps the newest {MAX_CHECK_RECORDS} checks of the phase being observed and, of "
             f"a phase that passed, its evidence with its non-passing and last checks ({FINISHED_CHECKS} at most); "
             "the other checks are not shown.")
RISKS = ("low", "medium", "high")
STATE_COLOURS = {
    "Succeeded": "#2ca02c", "Observing": "#1f77b4", "Applying": "#9ecae1", "Applied": "#6baed6",
    "RollingBack": "#ff7f0e", "RolledBack": "#ff7f0e", "AwaitingApproval": "#9467bd",
    "WouldPatch": "#17becf", "Invalid": "#d62728", "Pending": "#c7c7c7",
}
VERDICT_COLOURS = {"Pass": "#1a7f1a", "Fail": "#d62728", "Inconclusive": "#7f7f7f"}
OTHER = "#8c564b"
HOVER = "%{hovertext}<extra></extra>"


def text(value: Any) -> str:
    """A value as text Plotly shows literally (it would interpret tags in it)."""
    return escape(str(value), quote=False)


def _layout(fig: go.Figure, title: str, height: int) -> go.Figure:
    fig.update_layout(title=text(title), height=height, template="plotly_white",
                      margin={"l": 10, "r": 10, "t": 60, "b": 10})
    fig.update_yaxes(automargin=True)
    return fig


def empty_figure(sentence: str, title: str = "") -> go.Figure:
    """An honest empty panel: no traces, no axes, one sentence saying why."""
    fig = go.Figure()
    fig.add_annotation(text=text(sentence), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 15, "color": "#555"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, 180)


def cost_figure(costs: CostBreakdown | None) -> go.Figure:
    """Cost Explorer's unblended cost by service over the window, the largest on top."""
    title = "Cost by service"
    if not costs or not costs.get("byService"):
        return empty_figure(NO_COSTS, title)
    services = sorted(costs["byService"].items(), key=lambda item: item[1])
    currency = costs["currency"]
    fig = go.Figure(go.Bar(
        x=[amount for _, amount in services], y=[text(name) for name, _ in services], orientation="h",
        texttemplate="%{x:,.2f}", marker_color="#1f77b4", name="cost", hovertemplate=HOVER,
        hovertext=[f"{text(name)}: {amount:,.2f} {text(currency)}" for name, amount in services]))
    fig.update_xaxes(title_text=text(currency))
    return _layout(fig, f"{title}, {costs['start']} to {costs['end']}: {costs['total']:,.2f} {currency}",
                   140 + 28 * len(services))


def _check_hover(phase: str, time: str, metric: MetricCheck) -> str:
    return "<br>".join([
        f"<b>{text(metric.name)}</b> {text(metric.verdict)} (phase {text(phase)})", f"time {time} UTC",
        f"value {metric.value}", f"bound {metric.bound}", f"query {text(metric.query)}", text(metric.message)])


def _phase_bars(fig: go.Figure, segments: Sequence[Segment]) -> None:
    """Phases as bars from start to end, one trace per state (the legend), applied moments as diamonds."""
    for state in dict.fromkeys(s.state for s in segments):
        mine = [s for s in segments if s.state == state]
        fig.add_bar(row=1, col=1, orientation="h", name=text(state), y=[text(s.phase) for s in mine],
                    base=[s.start for s in mine], x=[s.duration_ms for s in mine],
                    marker_color=STATE_COLOURS.get(state, OTHER), opacity=0.45, hovertemplate=HOVER, hovertext=[
                        f"phase {text(s.phase)}: {text(s.state)}<br>started {s.start}<br>applied {s.applied}"
                        f"<br>until {s.end} UTC" for s in mine])
    applied = [s for s in segments if s.applied]
    if applied:
        fig.add_scatter(row=1, col=1, mode="markers", name="applied", x=[s.applied for s in applied],
                        y=[text(s.phase) for s in applied], marker={"symbol": "diamond", "size": 10, "color": "#000"},
                        hovertemplate=HOVER, hovertext=[f"phase {text(s.phase)} live at {s.applied} UTC"
                                                        for s in applied])


def _check_markers(fig: go.Figure, checks: Sequence[Check]) -> None:
    """Every gate check on its phase's row, coloured by the check's verdict."""
    fig.add_scatter(row=1, col=1, mode="markers", name="gate checks", x=[c.time for c in checks],
                    y=[text(c.phase) for c in checks], marker={
                        "symbol": "line-ns-open", "size": 16, "line": {"width": 3},
                        "color": [VERDICT_COLOURS.get(c.verdict, OTHER) for c in checks]},
                    hovertemplate=HOVER, hovertext=[
                        f"gate check {text(c.verdict)} at {c.time} UTC<br>"
                        + "<br>".join(text(m.message) for m in c.metrics) for c in checks])


def _metric_row(fig: go.Figure, row: int, metric: str, checks: Sequence[Check]) -> None:
    """One gate metric over time: each check's value (red when it failed) and the bound it was held to."""
    points = [(c, m) for c in checks for m in c.metrics if m.name == metric]
    fig.add_scatter(row=row, col=1, mode="markers", name=text(metric), showlegend=False,
                    x=[c.time for c, _ in points], y=[m.value for _, m in points],
                    marker={"size": 8, "color": [VERDICT_COLOURS.get(m.verdict, OTHER) for _, m in points]},
                    hovertemplate=HOVER, hovertext=[_check_hover(c.phase, c.time, m) for c, m in points])
    fig.add_scatter(row=row, col=1, mode="lines", name=f"{text(metric)} bound", showlegend=False,
                    x=[c.time for c, _ in points], y=[m.bound for _, m in points], line_shape="hv",
                    line={"dash": "dash", "color": "#d62728", "width": 1}, hoverinfo="skip")


def timeline_figure(plan: Mapping[str, Any]) -> go.Figure:
    """One plan: its phases over time with every gate check, then one row per gate metric."""
    status = plan.get("status") or {}
    title = f"Plan {plan_name(plan)}: {status.get('state', 'Pending')}"
    segments = phase_segments(status)
    if not segments:
        return empty_figure(f"Plan {plan_name(plan)} has not started a phase yet "
                            f"({status.get('state', 'Pending')}: {status.get('message', 'no status yet')}).", title)
    checks = gate_checks(status)
    metrics = list(dict.fromkeys(m.name for c in checks for m in c.metrics))
    fig = make_subplots(rows=1 + len(metrics), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["phases and gate checks", *(f"gate {text(m)}: value and bound"
                                                                    for m in metrics)])
    _phase_bars(fig, segments)
    if checks:
        _check_markers(fig, checks)
    if checks_dropped(status):
        fig.add_annotation(text=text(TRUNCATED), x=0, y=1.12, xref="paper", yref="paper", showarrow=False,
                           xanchor="left", font={"size": 12, "color": "#555"})
    for row, metric in enumerate(metrics, start=2):
        _metric_row(fig, row, metric, checks)
    fig.update_xaxes(type="date")
    fig.update_xaxes(title_text="time (UTC)", row=1 + len(metrics), col=1)
    fig.update_yaxes(autorange="reversed", row=1, col=1)
    fig.update_layout(barmode="overlay", legend={"orientation": "h", "y": -0.15})
    return _layout(fig, title, 260 + 170 * len(metrics))


def _heatmap(grid: Grid) -> go.Figure:
    # Percentages on their whole 0-100 scale: 20 % CPU is the story (idle), not the hottest colour.
    scale = {"zmin": 0, "zmax": 100} if grid.unit.lower() in ("percent", "%") else {}
    fig = go.Figure(go.Heatmap(
        z=grid.z, x=grid.days, y=[text(row) for row in grid.rows], colorscale="YlOrRd", hoverongaps=False, **scale,
        colorbar={"title": {"text": text(grid.unit)}},
        hovertemplate=f"%{{y}}<br>%{{x}}: %{{z}} {text(grid.unit)}<extra></extra>"))
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, f"Utilization: {grid.metric} ({grid.unit}) per day", 140 + 30 * len(grid.rows))


def utilization_figures(series: Sequence[UtilizationSeries]) -> list[go.Figure]:
    """One heatmap per metric: resources by day, blank where CloudWatch had no datapoint."""
    grids = utilization_grids(series)
    return [_heatmap(grid) for grid in grids] or [empty_figure(NO_UTILIZATION, "Utilization")]


def savings_figure(projected: Mapping[str, float], realized: Mapping[str, float], source: str) -> go.Figure:
    """Projected monthly savings per phase and their running total, with realized savings beside them."""
    title = "Monthly savings by phase (USD)"
    if not projected:
        return empty_figure(NO_PROJECTION, title)
    phases = [*projected, *(p for p in realized if p not in projected)]
    amounts = [projected.get(p) for p in phases]
    running = [round(sum(a or 0 for a in amounts[: i + 1]), 2) for i in range(len(phases))]
    fig = go.Figure()
    labels = [text(p) for p in phases]
    fig.add_bar(name=f"projected (from {text(source)})", x=labels, y=amounts, marker_color="#1f77b4",
                texttemplate="%{y:,.2f}")
    fig.add_scatter(name="projected, cumulative", x=labels, y=running, mode="lines+markers",
                    line={"color": "#aec7e8"})
    if realized:
        fig.add_bar(name="realized (Cost Explorer)", x=labels, y=[realized.get(p) for p in phases],
                    marker_color="#2ca02c", texttemplate="%{y:,.2f}")
    else:
        fig.add_annotation(text=text(NO_REALIZED), x=0.5, y=1.08, xref="paper", yref="paper", showarrow=False,
                           font={"size": 12, "color": "#555"})
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="USD per month")
    return _layout(fig, title, 420)


def _risk_hover(r: Recommendation) -> str:
    door = "irreversible (one-way door)" if r["irreversible"] else "reversible"
    return "<br>".join([f"<b>{text(r['rule'])}</b> ({text(r['phase'])}, {door})",
                        f"{text(r['resource'])} in {text(r['region'])}",
                        f"{r['projectedMonthlySavings']:,.2f} USD/month, risk {text(r['risk'])}", text(r["reason"])])


def risk_figure(recommendations: Sequence[Recommendation]) -> go.Figure:
    """Each recommendation by risk and projected savings; one-way doors drawn as crosses."""
    title = "Risk matrix: risk against projected monthly savings"
    if not recommendations:
        return empty_figure(NO_RECOMMENDATIONS, title)
    fig = go.Figure()
    for irreversible, symbol, name in ((False, "circle", "reversible"), (True, "x", "irreversible (one-way door)")):
        rows = [r for r in recommendations if r["irreversible"] is irreversible]
        if rows:
            fig.add_scatter(name=name, mode="markers", x=[text(r["risk"]) for r in rows],
                            y=[r["projectedMonthlySavings"] for r in rows], hovertemplate=HOVER,
                            hovertext=[_risk_hover(r) for r in rows],
                            marker={"symbol": symbol, "size": 13, "line": {"width": 1}})
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(RISKS), range=[-0.5, 2.5],
                     title_text="risk")
    fig.update_yaxes(title_text="projected USD per month", rangemode="tozero")
    return _layout(fig, title, 420)


def backtest_figure(view: BacktestView) -> go.Figure:
    """Each gate metric's value / bound at every replayed check (the bound is the line at 1), the
    checks that could not be judged (grey, at 0), and where simulated plans rolled back (red)."""
    fig = go.Figure()
    for line in view.lines:
        fig.add_trace(go.Scatter(x=line.times, y=line.ratios, mode="lines", name=text(line.name),
                                 hovertext=[text(h) for h in line.hover], hovertemplate=HOVER))
    if view.inconclusive:
        fig.add_trace(go.Scatter(x=[t for t, _ in view.inconclusive], y=[0] * len(view.inconclusive),
                                 mode="markers", name="inconclusive check",
                                 marker={"color": VERDICT_COLOURS["Inconclusive"], "symbol": "line-ns-open"},
                                 hovertext=[text(f"Inconclusive: {c}") for _, c in view.inconclusive],
                                 hovertemplate=HOVER))
    if view.failures:
        fig.add_trace(go.Scatter(x=[f.time for f in view.failures], y=[f.ratio or 0 for f in view.failures],
                                 mode="markers", name="simulated rollback",
                                 marker={"color": VERDICT_COLOURS["Fail"], "symbol": "x", "size": 10},
                                 hovertext=[text(f"{f.starts} start(s) rolled back: {f.message}")
                                            for f in view.failures], hovertemplate=HOVER))
    fig.add_hline(y=1, line={"dash": "dash", "color": VERDICT_COLOURS["Fail"]}, annotation_text="bound")
    fig.update_xaxes(type="date", title_text="time (UTC)")
    fig.update_yaxes(title_text="value / bound", rangemode="tozero")
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return _layout(fig, view.title, 420)

"""The whole dashboard page: one HTML file that works offline.

Plotly.js is inlined once in the head (a CDN link renders blank without internet, and a page is
often opened from a laptop long after the run), and each figure is a div with its own small script.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tap_optimizer.dashboard import figures, tables
from tap_optimizer.dashboard.backtest import backtest_views
from tap_optimizer.dashboard.data import projected_by_phase, realized_by_phase

NO_ANALYSIS = "No analysis document was given: run `tap-optimizer analyze` and pass its output with --analysis."
CONFIG = {"displaylogo": False, "responsive": True}
STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1360px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin: 0.2em 0; } .empty { color: #555; font-style: italic; }
table { border-collapse: collapse; width: 100%; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
"""


def _from_analysis(analysis: Mapping[str, Any] | None, build: Callable[[Mapping[str, Any]], list[go.Figure]],
                   title: str) -> list[go.Figure]:
    """The panel's figures, or one saying that there is no analysis (not that the analysis lacks data)."""
    return build(analysis) if analysis is not None else [figures.empty_figure(NO_ANALYSIS, title)]


def figure_sections(analysis: Mapping[str, Any] | None, plans: Sequence[Mapping[str, Any]],
                    backtests: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, list[go.Figure]]]:
    """The figure panels in page order, each a heading and its figures (one or more, never none)."""
    source, projected = projected_by_phase(analysis, plans)
    realized = realized_by_phase((analysis or {}).get("realized") or [])
    return [
        ("Cost breakdown", _from_analysis(analysis, lambda a: [figures.cost_figure(a.get("costs"))], "Cost")),
        ("Phase timeline and gate checks",
         [figures.timeline_figure(plan) for plan in plans] or [figures.empty_figure(tables.NO_PLANS, "Timeline")]),
        ("Backtest: the gates replayed on history",
         [figures.backtest_figure(view) for view in backtest_views(backtests)]
         or [figures.empty_figure(figures.NO_BACKTEST, "Backtest")]),
        ("Savings: projected and realized", [figures.savings_figure(projected, realized, source)]),
        ("Risk matrix", _from_analysis(analysis, lambda a: [figures.risk_figure(a.get("recommendations") or [])],
                                       "Risk matrix")),
        ("Utilization", _from_analysis(analysis, lambda a: figures.utilization_figures(a.get("utilization") or []),
                                       "Utilization")),
    ]


def table_sections(analysis: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The tables that come from the analysis: recommendations, tenant impact and report-only findings."""
    if analysis is None:
        missing = f'<p class="empty">{escape(NO_ANALYSIS)}</p>'
        return [("Recommendations", missing), ("Tenant impact: excluded resources", missing),
                ("Findings (report only)", missing)]
    return [("Recommendations", tables.recommendations_table(analysis.get("recommendations") or [])),
            ("Tenant impact: excluded resources", tables.exclusions_table(analysis.get("excluded") or [])),
            ("Findings (report only)", tables.findings_table(analysis.get("findings") or []))]


def _summary(analysis: Mapping[str, Any] | None, plans: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per input, so a reader knows what the page was built from."""
    lines = [f"{len(plans)} OptimizationPlan(s)."]
    if analysis is None:
        return [NO_ANALYSIS, *lines]
    platform, window, pricing = analysis.get("platform", {}), analysis.get("window", {}), analysis.get("pricing", {})
    calls = sum((analysis.get("apiCalls") or {}).values())
    return [
        f"Analysis of TapPlatform {platform.get('namespace', '')}/{platform.get('name', '?')} in "
        f"{', '.join(platform.get('regions', []))}, generated {analysis.get('generatedAt', '?')}.",
        f"Window {window.get('start', '?')} to {window.get('end', '?')} ({window.get('days', '?')} days); "
        f"prices from {pricing.get('source', '?')} of {pricing.get('date', '?')} in {pricing.get('currency', '?')}; "
        f"{calls} AWS API calls.",
        *lines,
    ]


def render_page(analysis: dict | None, plans: list[dict], *, title: str = "tap-optimizer",
                generated_at: str | None = None, backtests: Sequence[Mapping[str, Any]] = ()) -> str:
    """The whole page: summary, plan progress, the figure panels, then the tenant and findings tables."""
    meta = ([f"Generated {generated_at}."] if generated_at else []) + _summary(analysis, plans)
    parts = [f"<h1>{escape(title)}</h1>", *(f'<p class="meta">{escape(line)}</p>' for line in meta),
             "<h2>Progress</h2>", tables.plans_table(plans)]
    count = 0
    for heading, section in figure_sections(analysis, plans, backtests):
        parts.append(f"<h2>{escape(heading)}</h2>")
        for fig in section:
            count += 1
            parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=False, config=CONFIG,
                                     div_id=f"panel-{count}"))
    for heading, body in table_sections(analysis):
        parts += [f"<h2>{escape(heading)}</h2>", body]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head>\n'
            f"<body>\n{chr(10).join(parts)}\n</body></html>\n")

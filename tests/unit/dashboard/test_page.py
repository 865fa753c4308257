"""The page works offline, carries Plotly once, escapes what AWS tags and plan messages put in it,
and holds every panel and table."""

from __future__ import annotations

import re

import pytest
from plotly.offline import get_plotlyjs

from tap_optimizer.dashboard import tables
from tap_optimizer.dashboard.html import NO_ANALYSIS, figure_sections, render_page

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def page(analysis, succeeded, rolled_back) -> str:
    return render_page(analysis, [succeeded, rolled_back], title="tap-prod", generated_at="2026-12-03T07:00:00Z")


def test_the_page_is_self_contained_with_plotly_inlined_once(page):
    assert page.count(get_plotlyjs()) == 1
    assert page.count("Plotly.newPlot") == len(re.findall(r'<div id="panel-\d+"', page))
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert "cdn.plot.ly" not in page.replace(get_plotlyjs(), "")


def test_the_page_holds_every_panel_and_table(page, analysis, succeeded, rolled_back):
    figures = sum(len(section) for _, section in figure_sections(analysis, [succeeded, rolled_back]))
    # cost, a timeline per plan, the backtest (none given: a figure saying so), savings, risk, a heatmap per metric
    assert figures == 1 + 2 + 1 + 1 + 1 + 2
    assert len(re.findall(r'<div id="panel-\d+"', page)) == figures
    for text in ("tap/rightsize", "tap/rightsize-retry", "RolledBack", "3/3", "8,485.30", "acme",
                 "arn:aws:rds:eu-west-1:123456789012:cluster:globex-db", "consolidate-tables",
                 "Generated 2026-12-03T07:00:00Z", "98 AWS API calls"):
        assert text in page


def test_every_string_from_the_inputs_is_escaped(analysis, rolled_back):
    analysis["costs"]["byService"][HOSTILE] = 1.0
    analysis["excluded"][0]["resource"] = HOSTILE
    analysis["findings"][0]["reason"] = HOSTILE
    analysis["recommendations"][0]["resource"] = HOSTILE
    analysis["utilization"][0]["resource"] = HOSTILE
    analysis["platform"]["name"] = HOSTILE
    rolled_back["status"]["message"] = HOSTILE
    page = render_page(analysis, [rolled_back], title=HOSTILE)
    assert "<script>alert" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6  # title, summary, tables and figure labels


def test_without_an_analysis_the_page_says_so_instead_of_showing_empty_data(succeeded):
    page = render_page(None, [succeeded])
    assert NO_ANALYSIS in page and "No Cost Explorer data" not in page
    assert "projected (from plans)" in page


def test_without_plans_the_progress_table_and_timeline_say_so(analysis):
    page = render_page(analysis, [])
    assert page.count(tables.NO_PLANS) == 2

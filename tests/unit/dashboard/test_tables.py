"""The progress, tenant-impact and findings tables: the input's values, escaped, or a sentence."""

from __future__ import annotations

from tap_optimizer.dashboard import tables
from tests.support.dashboard_samples import plan_object


def test_a_plan_without_status_shows_its_spec_progress_and_savings():
    html = tables.plans_table([plan_object("fresh")])
    assert "<td>tap/fresh</td><td>tap-prod</td><td>Pending</td><td>0/3</td><td></td><td>8,485.30</td>" in html


def test_a_running_plan_shows_its_current_phase(rolled_back):
    assert "<td>compute (RolledBack)</td>" in tables.plans_table([rolled_back])


def test_exclusions_and_findings_list_every_entry(analysis):
    excluded, findings = tables.exclusions_table(analysis["excluded"]), tables.findings_table(analysis["findings"])
    assert excluded.count("<tr>") == 1 + len(analysis["excluded"]) and "<td>globex</td>" in excluded
    assert "<td>bytesPerDay=2100000000000.0</td>" in findings


def test_empty_tables_are_a_sentence():
    assert tables.plans_table([]) == f'<p class="empty">{tables.NO_PLANS}</p>'
    assert tables.NO_EXCLUSIONS in tables.exclusions_table([]) and "<table" not in tables.exclusions_table([])
    assert tables.NO_FINDINGS in tables.findings_table([])

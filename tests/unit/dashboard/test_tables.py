"""The progress, recommendations, tenant-impact and findings tables: the input's values, escaped, or a
sentence."""

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


def test_the_recommendations_table_shows_the_projection_risk_and_share_of_cost():
    fleet = {"rule": "compute-rightsize", "phase": "compute", "resource": "autoscaling group asg",
             "region": "us-east-1", "reason": "r", "risk": "medium", "riskScore": 2, "irreversible": False,
             "evidence": {"instanceType": "m5.4xlarge", "desiredCapacity": 15}, "projectedMonthlySavings": 5286.95,
             "changes": [{"op": "replace", "path": "/spec/parameters/compute/instanceType", "value": "m5.2xlarge"},
                         {"op": "replace", "path": "/spec/parameters/compute/maxSize", "value": 17}],
             "options": [{"target": "m5.2xlarge", "monthlyCost": 3122.65, "monthlySavings": 5286.95, "riskScore": 2,
                          "risk": "medium", "fits": True, "expectedInstances": 11.14,
                          "projected": [{"dimension": "CPU at maxSize", "p95Percent": 52.1, "peakPercent": 53.4,
                                         "limitPercent": 75.0}]}]}
    html = tables.recommendations_table([fleet])
    assert ("<td>autoscaling group asg</td><td>compute-rightsize</td><td>15 x m5.4xlarge</td>"
            "<td>instanceType=m5.2xlarge, maxSize=17 (11.14 expected)</td>"
            "<td>CPU at maxSize 52.1/53.4 % of 75</td><td>2 medium</td><td>5,286.95</td><td>63 %</td>") in html
    assert tables.NO_RECOMMENDATIONS in tables.recommendations_table([])
    # the savings count from the instances the group ran, not from its desired capacity at the analysis
    fleet["evidence"] |= {"desiredCapacity": 30, "instancesInService": 15.5}
    assert "<td>15.5 x m5.4xlarge in service (desired 30 now)</td>" in tables.recommendations_table([fleet])

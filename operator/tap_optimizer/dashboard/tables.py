"""The dashboard's tables as escaped HTML: plan progress, recommendations, tenant exclusions and
report-only findings.

Tables rather than figures because a reader copies names and ARNs out of them, and searches them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from tap_optimizer.analysis.document import Exclusion, Finding, Recommendation
from tap_optimizer.dashboard.data import change_savings, plan_name
from tap_optimizer.plan import status as plan_status

NO_PLANS = "No OptimizationPlans were given (pass --plans FILE or --namespace NS)."
NO_EXCLUSIONS = "No tenant-tagged resources were found: nothing was excluded."
NO_RECOMMENDATIONS = "No recommendation: every rule kept the platform as it is."
CURRENT_KEYS = ("instanceType", "instanceClass", "nodeType")  # the evidence naming what runs now
NO_FINDINGS = "No findings: every rule that looked at a resource either fired or had nothing to say."


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    """An HTML table of escaped cells, or the empty sentence when there are no rows."""
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _current_phase(plan: Mapping[str, Any]) -> str:
    status = plan.get("status") or {}
    index = status.get("currentPhase")
    record = plan_status.current_phase(status) if index is not None and index >= 0 else None
    return f"{record['name']} ({record.get('state', '?')})" if record is not None else ""


def _progress(plan: Mapping[str, Any]) -> str:
    """The status' x/y, or 0/y from the spec before the operator has written any status."""
    total = len((plan.get("spec") or {}).get("phases") or [])
    return (plan.get("status") or {}).get("progress") or f"0/{total}"


def _savings(plan: Mapping[str, Any]) -> str:
    amount = (plan.get("status") or {}).get("projectedMonthlySavings")
    if amount is None:  # no status yet
        amount = sum(savings for _, savings in change_savings(plan))
    return f"{amount:,.2f}"


def plans_table(plans: Sequence[Mapping[str, Any]]) -> str:
    """Where each plan is: state and why, phases done, the phase in progress, projected savings."""
    rows = [(plan_name(plan), (plan.get("spec") or {}).get("targetRef", {}).get("name", ""),
             (plan.get("status") or {}).get("state", "Pending"), _progress(plan), _current_phase(plan),
             _savings(plan), (plan.get("status") or {}).get("message", ""))
            for plan in plans]
    return table(["Plan", "Target", "State", "Phases done", "Current phase", "Projected USD/month", "Message"],
                 rows, NO_PLANS)


def exclusions_table(excluded: Sequence[Exclusion]) -> str:
    """The tenant-tagged resources the optimizer never touches."""
    rows = [(e["resource"], e["region"], e["tenantId"], e["reason"]) for e in excluded]
    return table(["Resource", "Region", "Tenant", "Why excluded"], rows, NO_EXCLUSIONS)


def findings_table(findings: Sequence[Finding]) -> str:
    """Report-only observations and rules that did not fire, with their measurements."""
    rows = [(f["rule"], f["resource"], f["region"], f["reason"],
             ", ".join(f"{key}={value}" for key, value in f.get("evidence", {}).items()))
            for f in findings]
    return table(["Rule", "Resource", "Region", "Finding", "Evidence"], rows, NO_FINDINGS)


def _current(rec: Recommendation) -> str:
    evidence = rec["evidence"]
    now = next((str(evidence[k]) for k in CURRENT_KEYS if k in evidence), "")
    count, ran = evidence.get("desiredCapacity"), evidence.get("instancesInService")
    if ran is not None and ran != count and now:  # what the savings count from: the instances it ran
        return f"{ran:g} x {now} in service (desired {count} now)"
    return f"{count} x {now}" if count and now else now


def _recommended(rec: Recommendation) -> str:
    """The changes as `field=value`, the planned fleet's expected size when there is one."""
    values = ", ".join(f"{c['path'].rsplit('/', 1)[-1]}={c.get('value', '(removed)')}" for c in rec["changes"])
    options = rec.get("options") or []
    expected = options[0].get("expectedInstances") if options else None
    return f"{values} ({expected} expected)" if expected is not None else values


def _projected(rec: Recommendation) -> str:
    options = rec.get("options") or []
    if not options:
        return ""
    return "; ".join(f"{p['dimension']} {p['p95Percent']:g}/{p['peakPercent']:g} % of {p['limitPercent']:g}"
                     for p in options[0]["projected"])


def _share(rec: Recommendation) -> str:
    """Savings as a share of what the resource costs now (known for sized resources only)."""
    options = rec.get("options") or []
    now = options[0]["monthlyCost"] + options[0]["monthlySavings"] if options else 0.0
    return f"{100 * rec['projectedMonthlySavings'] / now:.0f} %" if now > 0 else ""


def recommendations_table(recommendations: Sequence[Recommendation]) -> str:
    """What each recommendation changes, the load projected onto it (p95/peak of the limit, in
    percent), its risk, and its savings in USD per month and as a share of the resource's cost."""
    rows = [(r["resource"], r["rule"], _current(r), _recommended(r), _projected(r),
             f"{r['riskScore']} {r['risk']}" if "riskScore" in r else r["risk"],
             f"{r['projectedMonthlySavings']:,.2f}", _share(r)) for r in recommendations]
    return table(["Resource", "Rule", "Current", "Recommended", "Projected p95/peak", "Risk", "USD/month",
                  "% of its cost"], rows, NO_RECOMMENDATIONS)

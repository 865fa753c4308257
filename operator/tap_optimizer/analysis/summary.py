"""The analysis as a readable table (`analyze --format table`)."""

from __future__ import annotations

from tap_optimizer.analysis.document import Analysis

WIDTH = 60


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def table(analysis: Analysis) -> str:
    recs = analysis["recommendations"]
    lines = [f"Platform {analysis['platform']['name']} ({', '.join(analysis['platform']['regions'])}), "
             f"{analysis['window']['days']} days to {analysis['window']['end'][:10]}",
             f"Prices: {analysis['pricing']['source']} ({analysis['pricing']['date']})", ""]
    if recs:
        lines.append(f"{'phase':<15} {'rule':<18} {'resource':<{WIDTH}} {'risk':<6} {'$/month':>10}")
        for r in recs:
            door = " (one-way)" if r["irreversible"] else ""
            lines.append(f"{r['phase']:<15} {r['rule']:<18} {_cut(r['resource'] + door, WIDTH):<{WIDTH}} "
                         f"{r['risk']:<6} {r['projectedMonthlySavings']:>10,.2f}")
        total = sum(r["projectedMonthlySavings"] for r in recs)
        lines.append(f"{'total':<{15 + 1 + 18 + 1 + WIDTH + 1 + 6}} {total:>10,.2f}")
    else:
        lines.append("No recommendation: every rule kept the platform as it is.")
    lines += ["", "Kept or reported:"]
    lines += [f"  {f['rule']:<20} {_cut(f['resource'], 50):<50} {f['reason']}" for f in analysis["findings"]]
    lines += [f"  excluded             {e['resource']} (TenantId={e['tenantId']})" for e in analysis["excluded"]]
    if "costs" in analysis:
        c = analysis["costs"]
        lines += ["", f"Cost Explorer {c['start']} to {c['end']}: {c['total']:,.2f} {c['currency']}"]
        lines += [f"  {service:<50} {amount:>12,.2f}" for service, amount in c["byService"].items()]
    else:
        lines += ["", "Cost Explorer: no data for the tap.io/platform cost allocation tag."]
    calls = sum(analysis["apiCalls"].values())
    lines += ["", f"AWS API calls: {calls}"]
    return "\n".join(lines)

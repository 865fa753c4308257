"""The analysis as a readable table (`analyze --format table`)."""

from __future__ import annotations

from collections.abc import Iterable

from tap_optimizer.analysis.document import Analysis, SizingOption

WIDTH = 60


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def table(analysis: Analysis) -> str:
    recs = analysis["recommendations"]
    lines = [f"Platform {analysis['platform']['name']} ({', '.join(analysis['platform']['regions'])}), "
             f"{analysis['window']['days']} days to {analysis['window']['end'][:10]}",
             f"Prices: {analysis['pricing']['source']} ({analysis['pricing']['date']})"]
    if "instanceFacts" in analysis:
        lines.append(f"Instance facts: {analysis['instanceFacts']['source']} ({analysis['instanceFacts']['date']})")
    lines.append("")
    if recs:
        lines.append(f"{'phase':<15} {'rule':<18} {'resource':<{WIDTH}} {'risk':<8} {'$/month':>10}")
        for r in recs:
            door = " (one-way)" if r["irreversible"] else ""
            risk = f"{r['riskScore']} {r['risk']}" if "riskScore" in r else r["risk"]
            lines.append(f"{r['phase']:<15} {r['rule']:<18} {_cut(r['resource'] + door, WIDTH):<{WIDTH}} "
                         f"{risk:<8} {r['projectedMonthlySavings']:>10,.2f}")
        total = sum(r["projectedMonthlySavings"] for r in recs)
        lines.append(f"{'total':<{15 + 1 + 18 + 1 + WIDTH + 1 + 8}} {total:>10,.2f}")
    else:
        lines.append("No recommendation: every rule kept the platform as it is.")
    lines += _options([*recs, *analysis["findings"]])
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


def projected(option: SizingOption) -> str:
    """`CPU at maxSize 52/56 %, network 1/1 %`: each dimension's projected p95/peak in percent."""
    return ", ".join(f"{p['dimension']} {p['p95Percent']:.0f}/{p['peakPercent']:.0f} %" for p in option["projected"])


def _fleet(option: SizingOption) -> str:
    sizes = option.get("minSize"), option.get("maxSize"), option.get("expectedInstances")
    return "" if sizes[0] is None else f" {sizes[0]}-{sizes[1]}, {sizes[2]} expected"


def _options(outcomes: Iterable[dict]) -> list[str]:
    """The sizing rules' options per resource: projected p95/peak, risk, cost; the first planned
    when the resource has a recommendation."""
    lines: list[str] = []
    shown: set[str] = set()
    for outcome in outcomes:
        if outcome["resource"] in shown:  # a cache's node type and topology share their options
            continue
        shown.add(outcome["resource"])
        for i, option in enumerate(outcome.get("options", [])):
            if i == 0:
                lines += ["", f"Options for {outcome['resource']}, projected p95/peak "
                          f"(limit {option['projected'][0]['limitPercent']:g} %):"]
            mark = "*" if i == 0 and "changes" in outcome else " "
            lines.append(f"  {mark} {option['target'] + _fleet(option):<40} {projected(option):<44} "
                         f"risk {option['riskScore']} {option['risk']:<9} {option['monthlyCost']:>10,.2f} $/month "
                         f"saves {option['monthlySavings']:>10,.2f}")
    return lines

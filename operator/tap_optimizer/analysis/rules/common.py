"""What every rule builds: recommendations, findings, and the context they read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis.config import AnalysisConfig
from tap_optimizer.analysis.document import Change, Finding, Phase, Recommendation, Risk
from tap_optimizer.analysis.facts import FactBook
from tap_optimizer.analysis.facts import pinned as pinned_facts
from tap_optimizer.analysis.inventory import Inventory
from tap_optimizer.analysis.pricing import PriceBook
from tap_optimizer.analysis.queries import Measurements
from tap_optimizer.platform.pointer import escape

Outcome = Recommendation | Finding


@dataclass(frozen=True)
class Context:
    """Everything a rule may read."""

    inventory: Inventory
    measurements: Measurements
    config: AnalysisConfig
    prices: PriceBook
    facts: FactBook = field(default_factory=pinned_facts)

    @property
    def parameters(self) -> dict[str, Any]:
        return self.inventory.parameters

    def month_fraction(self) -> float:
        """Months in the analysed window: totals over the window divide by it to give per month."""
        return self.measurements.window.days * 24 / self.prices.hours_per_month


def path(*tokens: str) -> str:
    """A JSON pointer under /spec/parameters."""
    return "/spec/parameters/" + "/".join(escape(t) for t in tokens)


def replace(value: Any, *tokens: str) -> Change:
    return {"op": "replace", "path": path(*tokens), "value": value}


def recommend(rule: str, phase: Phase, resource: str, region: str, changes: list[Change], reason: str,
              evidence: dict[str, Any], risk: Risk, savings: float, irreversible: bool = False,
              **sizing: Any) -> Recommendation:
    """A recommendation; a sizing rule adds `riskScore` and its `options` (document.py)."""
    return {"rule": rule, "phase": phase, "resource": resource, "region": region, "changes": changes,  # type: ignore[typeddict-item]
            "reason": reason, "evidence": rounded(evidence), "risk": risk, "irreversible": irreversible,
            "projectedMonthlySavings": round(max(savings, 0.0), 2), **sizing}


def finding(rule: str, resource: str, region: str, reason: str, evidence: dict[str, Any] | None = None,
            **sizing: Any) -> Finding:
    """A resource kept (or a report-only observation); a sizing rule adds the `options` it judged."""
    return {"rule": rule, "resource": resource, "region": region, "reason": reason,  # type: ignore[typeddict-item]
            "evidence": rounded(evidence or {}), **sizing}


def rounded(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as it is shown and committed: floats to 4 significant places."""
    return {k: float(f"{v:.4g}") if isinstance(v, float) else v for k, v in evidence.items()}


def missing(values: dict[str, float | None]) -> list[str]:
    """The names of the measurements CloudWatch had no datapoint for."""
    return [name for name, value in values.items() if value is None]

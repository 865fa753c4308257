"""What changed in a plan's status between two looks, as lines a person can follow: states,
phases, every gate check with its values and bounds, and the operator's decisions."""

from __future__ import annotations

from typing import Any

from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.status import GateDetail, PhaseRecord


def _check_line(phase: str, check: GateDetail) -> str:
    metrics = ", ".join(f"{m['name']} {_number(m.get('value'))} (bound {_number(m.get('bound'))}) {m['verdict']}"
                        for m in check.get("metrics", []))
    return f"  gate check [{phase}] {check['verdict']}: {metrics}"


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines for everything in `new` that was not in `old` (both plan statuses)."""
    lines = []
    was, now = plan_status.state(old), plan_status.state(new)
    if now != was:
        reason = _latest_message(new)
        lines.append(f"{name}: {was or 'new'} -> {now}" + (f" ({reason})" if reason else ""))
    before = {p.get("name"): p for p in plan_status.phases(old)}
    for phase in plan_status.phases(new):
        previous: PhaseRecord = before.get(phase.get("name"), {})
        if phase.get("state") != previous.get("state"):
            lines.append(f"  phase {phase['name']}: {previous.get('state') or 'new'} -> {phase.get('state')}")
        seen = {c.get("time") for c in previous.get("gates", [])}
        lines += [_check_line(phase["name"], c) for c in phase.get("gates", []) if c.get("time") not in seen]
    return lines


def _latest_message(status: dict[str, Any]) -> str:
    conditions = sorted(plan_status.conditions(status), key=lambda c: c.get("lastTransitionTime", ""))
    return conditions[-1].get("message", "") if conditions else ""


def waiting_for_approval(status: dict[str, Any]) -> str | None:
    """The phase a plan waits on a person for, if any."""
    if plan_status.state(status) != "AwaitingApproval":
        return None
    record = plan_status.current_phase(status)
    return record.get("name") if record is not None else None

"""`kubectl optplan get`: a plan as a tree of phases, their changes and gate checks, and its
conditions, drawn as `kubectl argo rollouts get rollout` draws a rollout. Pure: a plan body in,
lines out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import APPROVE_ANNOTATION

ICONS = {"Succeeded": "✔", "RolledBack": "✖", "Failed": "✖", "Invalid": "✖", "Pending": "◌", "Blocked": "⚠",
         "Paused": "॥", "AwaitingApproval": "॥", "WouldPatch": "✔"}
RUNNING = "⟳"  # Progressing, Observing, RollingBack, Applying, Restoring ...
CHECKS_SHOWN = 3
MESSAGE_WIDTH = 100
VALUE_WIDTH = 40
NAME_WIDTH = 64  # a longer name pushes its row's other columns right
PARAMETERS = "/spec/parameters/"


def icon(state: str | None) -> str:
    return ICONS.get(state or "Pending", RUNNING)


def render(plan: Mapping[str, Any]) -> str:
    """The header (name, target, state, message, attempt, progress) and the tree."""
    meta, spec, status = plan.get("metadata") or {}, plan.get("spec") or {}, plan.get("status") or {}
    state = plan_status.state(status) or "Pending"
    approved = (meta.get("annotations") or {}).get(APPROVE_ANNOTATION, "")
    header = [("Name", meta.get("name", "")), ("Namespace", meta.get("namespace", "")),
              ("Target", f"TapPlatform {(spec.get('targetRef') or {}).get('name', '?')}"),
              ("Status", f"{icon(state)} {state}" + (f" ({status['reason']})" if status.get("reason") else "")),
              ("Message", status.get("message", "")), ("Attempt", str(plan_status.attempt(status))),
              ("Progress", status.get("progress", "")), ("Approved", approved),
              ("Savings", f"${status['projectedMonthlySavings']:,.2f}/month projected"
               if "projectedMonthlySavings" in status else "")]
    lines = [f"{key + ':':<14}{value}" for key, value in header if value]
    rows = [(f"{icon(state)} {meta.get('name', '')}", state, "")]
    children = [*_phases(spec, status), _conditions(status)]
    rows += _branches(children, "")
    width = min(max(len(name) for name, _, _ in rows), NAME_WIDTH) + 2
    table = [f"{'NAME':<{width}}{'STATE':<18}INFO"] + [f"{n:<{width - 1}} {s:<17} {i}".rstrip() for n, s, i in rows]
    return "\n".join([*lines, "", *table]) + "\n"


Node = tuple[str, str, str, list[Any]]  # name, state, info, children


def _branches(nodes: Sequence[Node], prefix: str) -> list[tuple[str, str, str]]:
    rows = []
    for position, (name, state, info, children) in enumerate(nodes):
        last = position == len(nodes) - 1
        rows.append((f"{prefix}{'└──' if last else '├──'}{name}", state, info))
        rows += _branches(children, prefix + ("   " if last else "│  "))
    return rows


def _phases(spec: Mapping[str, Any], status: Mapping[str, Any]) -> list[Node]:
    records = {p.get("name"): p for p in plan_status.phases(status)}
    nodes: list[Node] = []
    for phase in spec.get("phases") or []:
        record = records.get(phase.get("name"), {})
        state = str(record.get("state", "Pending"))
        nodes.append((f"{icon(state)} phase {phase.get('name')}", state, _phase_info(phase, record),
                      [*_changes(phase, record), *_checks(record)]))
    return nodes


def _phase_info(phase: Mapping[str, Any], record: Mapping[str, Any]) -> str:
    notes = []
    if phase.get("requiresApproval") or record.get("oneWayDoors"):
        notes.append(f"approved by {record['approvedBy']}" if record.get("approvedBy") else "needs approval")
    if record.get("acceptedBy"):
        notes.append(f"hold accepted by {record['acceptedBy']} at {record.get('acceptedAt')}")
    gained = record.get("evidence")
    if gained:
        notes.append(f"evidence {gained['conclusiveSeconds']:g}/{gained['requiredSeconds']:g} s")
    if record.get("waitingFor"):
        notes.append(f"waiting for {record['waitingFor']}")
    return "; ".join(notes)


def _changes(phase: Mapping[str, Any], record: Mapping[str, Any]) -> list[Node]:
    recorded = {c.get("path"): c for c in record.get("changes") or []}
    nodes: list[Node] = []
    for change in phase.get("changes") or []:
        path = change.get("path", "")
        seen = recorded.get(path)
        values = f"{_value(seen, 'before')} → {_value(seen, 'after')}" if seen else \
            ("" if change.get("op") == "remove" else f"→ {_clip(repr(change.get('value')), VALUE_WIDTH)}")
        savings = change.get("projectedMonthlySavings")
        info = "; ".join(filter(None, [values, f"${savings:,.2f}/month" if savings else ""]))
        nodes.append((f"{change.get('op', '')} {path.removeprefix(PARAMETERS)}", "", info, []))
    return nodes


def _value(entry: Mapping[str, Any], side: str) -> str:
    return _clip(repr(entry[side]), VALUE_WIDTH) if side in entry else "absent"


def _checks(record: Mapping[str, Any]) -> list[Node]:
    """The phase's last few gate checks: time, verdict, the worst series against its bound."""
    nodes: list[Node] = []
    for moment, verdict, worst, value, bound in (record.get("checks") or [])[-CHECKS_SHOWN:]:
        against = f"{worst} {value:g} (bound {bound:g})" if value is not None and bound is not None else worst
        nodes.append((f"{icon('Succeeded' if verdict == 'Pass' else 'Failed' if verdict == 'Fail' else 'Paused')} "
                      f"check {moment}", verdict, against, []))
    return nodes


def _conditions(status: Mapping[str, Any]) -> Node:
    nodes: list[Node] = [(f"{c.get('type')}={c.get('status')}", c.get("reason", ""),
                          _clip(c.get("message", "")), []) for c in plan_status.conditions(status)]
    return ("conditions", "", "" if nodes else "none yet", nodes)


def _clip(text: str, width: int = MESSAGE_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def table(plans: Sequence[Mapping[str, Any]], namespaces: bool) -> str:
    """`kubectl optplan list`: one line a plan."""
    headers = [*(["NAMESPACE"] if namespaces else []), "NAME", "TARGET", "STATE", "REASON", "PROGRESS", "ATTEMPT"]
    rows = [[*([p["metadata"].get("namespace", "")] if namespaces else []), p["metadata"].get("name", ""),
             ((p.get("spec") or {}).get("targetRef") or {}).get("name", ""),
             plan_status.state(p.get("status")) or "Pending", (p.get("status") or {}).get("reason", ""),
             (p.get("status") or {}).get("progress", ""), str(plan_status.attempt(p.get("status")))]
            for p in plans]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) + 3 for i in range(len(headers))]
    return "".join("".join(f"{cell:<{w}}" for cell, w in zip(row, widths, strict=True)).rstrip() + "\n"
                   for row in [headers, *rows])

"""Which transitions worth telling a person one step of a plan made, found from the status the step
read and the one it wrote: edge-triggered (once per transition, never once per interval), and the
same after an operator restart, since both statuses are what the API server holds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_optimizer.plan import status as plan_status

# Plan states entered; InconclusiveHold: the gates stopped judging (GatesConclusive turned False).
STATES = ("AwaitingApproval", "RollingBack", "RolledBack", "Failed", "Succeeded", "Blocked")
HOLD = "InconclusiveHold"
EVENTS = (*STATES, HOLD)


@dataclass(frozen=True)
class Notice:
    """One transition of one plan, as a webhook is told it."""

    event: str
    namespace: str
    name: str
    state: str
    reason: str
    message: str
    phase: str
    attempt: int
    at: str


def notices(namespace: str, name: str, old: Mapping[str, Any], new: Mapping[str, Any], at: str) -> list[Notice]:
    """The transitions from `old` to `new`: a state of STATES entered (AwaitingApproval again for
    another phase), and the gates becoming inconclusive."""
    state = plan_status.state(new) or "Pending"
    phase = str((plan_status.current_phase(new) or {}).get("name", ""))
    before_phase = str((plan_status.current_phase(old) or {}).get("name", ""))
    moved = state != plan_status.state(old) or (state == "AwaitingApproval" and phase != before_phase)

    def notice(event: str, message: str) -> Notice:
        return Notice(event, namespace, name, state, str(new.get("reason", "")), message, phase,
                      plan_status.attempt(new), at)

    found = [notice(state, str(new.get("message", "")))] if state in STATES and moved else []
    held, was = (plan_status.condition(status, "GatesConclusive") for status in (new, old))
    if held is not None and held["status"] == "False" and (was is None or was["status"] != "False"):
        found.append(notice(HOLD, held["message"]))
    return found

"""What each `kubectl optplan` command writes to a plan: a JSON merge patch computed from the plan
as read, or a refusal that says why. Pure: the plan body, who and when in; the patch out.

Every patch carries the plan's resourceVersion, so the API server refuses it (409) when the plan
changed since it was read, and the command reads again: adding a phase to the approve list never
drops one another person added at the same moment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import (
    ABORT_ANNOTATION,
    APPROVE_ANNOTATION,
    PROCEED_ANNOTATION,
    RETRY_ANNOTATION,
    TERMINAL,
)
from tap_optimizer.plan.requests import HOLDS, RETRYABLE

BAD_INPUT, REFUSED = 2, 1  # exit codes: a name that is wrong; a plan that cannot take the command now


class RefusedError(Exception):
    """The command cannot act on this plan: the message says why, `code` is the exit code."""

    def __init__(self, message: str, code: int = REFUSED) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Change:
    """A merge patch for the plan and the sentence the command prints once it is written."""

    patch: dict[str, Any]
    said: str


def _patch(plan: Mapping[str, Any], *, annotations: Mapping[str, str | None] | None = None,
           spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": plan["metadata"].get("resourceVersion")}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta, **({"spec": dict(spec)} if spec else {})}


def _phase_names(plan: Mapping[str, Any]) -> list[str]:
    return [str(p.get("name")) for p in (plan.get("spec") or {}).get("phases") or []]


def _state(plan: Mapping[str, Any]) -> tuple[str, str]:
    status = plan.get("status") or {}
    return plan_status.state(status) or "Pending", str(status.get("reason", ""))


def approve(plan: Mapping[str, Any], phase: str | None) -> Change:
    """Add the phase (by default the one awaiting approval) to the comma-separated approve list.
    A plan that ended waits for nothing: an approval would count for no phase (a retry asks again)."""
    names = _phase_names(plan)
    state, _ = _state(plan)
    if state in TERMINAL:
        again = " (retry it: its phases that need approval wait for it again)" if state in RETRYABLE else ""
        raise RefusedError(f"the plan already ended {state}; no phase waits for approval{again}")
    if phase is None:
        record = plan_status.current_phase(plan.get("status"))
        if not record or record.get("state") != "AwaitingApproval":
            raise RefusedError(f"PHASE: no phase awaits approval now; name one of: {', '.join(names)}", BAD_INPUT)
        phase = str(record["name"])
    if phase not in names:
        raise RefusedError(f"PHASE: the plan has no phase {phase!r}; its phases: {', '.join(names)}", BAD_INPUT)
    listed = [p.strip() for p in (plan["metadata"].get("annotations") or {}).get(APPROVE_ANNOTATION, "").split(",")
              if p.strip()]
    if phase in listed:
        return Change({}, f"phase {phase} is already approved ({APPROVE_ANNOTATION}={','.join(listed)})")
    value = ",".join([*listed, phase])
    return Change(_patch(plan, annotations={APPROVE_ANNOTATION: value}),
                  f"approved phase {phase} ({APPROVE_ANNOTATION}={value})")


def abort(plan: Mapping[str, Any]) -> Change:
    state, _ = _state(plan)
    if state in TERMINAL:
        raise RefusedError(f"the plan already ended {state}; there is nothing to abort")
    return Change(_patch(plan, annotations={ABORT_ANNOTATION: "true"}),
                  "abort asked: every applied phase is rolled back, newest first")


def pause(plan: Mapping[str, Any], suspend: bool) -> Change:
    """spec.suspend: hold before the next phase (the phase being observed goes on being judged)."""
    state, _ = _state(plan)
    if state in TERMINAL:
        raise RefusedError(f"the plan already ended {state}; there is nothing to {'pause' if suspend else 'resume'}")
    said = "paused: the plan holds before its next phase" if suspend else "resumed"
    return Change(_patch(plan, spec={"suspend": suspend}), said)


def retry(plan: Mapping[str, Any], by: str, at: str) -> Change:
    """A new attempt of a plan that ended RolledBack or Failed; the abort annotation and the approvals
    of the attempt before are removed (phases that need approval wait for it again)."""
    state, _ = _state(plan)
    if state == "RollingBack":
        raise RefusedError("a rollback is in progress and always ends first; retry once the plan is RolledBack "
                           "or Failed")
    if state not in RETRYABLE:
        raise RefusedError(f"the plan is {state}; only a plan that ended RolledBack or Failed can be retried")
    number = plan_status.attempt(plan.get("status")) + 1
    request = json.dumps({"by": by, "at": at, "attempt": number}, sort_keys=True)
    annotations = {RETRY_ANNOTATION: request, ABORT_ANNOTATION: None, APPROVE_ANNOTATION: None}
    return Change(_patch(plan, annotations=annotations),
                  f"retry asked: attempt {number} starts from the target's current values; phases that need "
                  "approval wait for it again")


def proceed(plan: Mapping[str, Any], by: str, at: str) -> Change:
    """Accept the inconclusive hold of the phase being observed."""
    state, reason = _state(plan)
    if (state, reason) not in HOLDS:
        raise RefusedError(f"there is no inconclusive hold to accept: the plan is {state} ({reason or 'no reason'})")
    phase = str((plan_status.current_phase(plan.get("status")) or {}).get("name", ""))
    request = json.dumps({"by": by, "at": at, "phase": phase}, sort_keys=True)
    return Change(_patch(plan, annotations={PROCEED_ANNOTATION: request}),
                  f"proceed asked: phase {phase} is accepted despite its inconclusive checks, recorded as {by}")

"""A person's requests beyond approve and abort, made by annotation (`kubectl optplan retry` and
`proceed` write them): retry a plan that ended RolledBack or Failed, and proceed past an
inconclusive hold.

Each annotation's value is a request, JSON `{"by": "...", "at": "...", "phase": "..."}` (a value
that is not JSON is a request by someone unnamed). A request is answered once: status keeps the
value it answered (`requests`), so a step repeated after a crash, or an annotation left in place,
never answers it twice. A request the plan cannot take now is refused (a Warning Event) and stays
answered: a retry asked while a rollback is in progress does not start by itself when the rollback
ends; the person asks again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from tap_optimizer.plan import evidence, observation
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import PROCEED_ANNOTATION, RETRY_ANNOTATION, Event
from tap_optimizer.plan.status import Attempt, PlanStatus
from tap_optimizer.plan.step import Step, timestamp

Kind = Literal["retry", "proceed"]
ANNOTATIONS: dict[Kind, str] = {"retry": RETRY_ANNOTATION, "proceed": PROCEED_ANNOTATION}
RETRYABLE = ("RolledBack", "Failed")
# The plan states that are an inconclusive hold (with its status reason): proceed accepts these only.
HOLDS = (("Observing", "InconclusiveCheck"), ("Paused", "GatesInconclusive"))
ATTEMPTS_KEPT = 10


@dataclass(frozen=True)
class Request:
    """One request: the annotation's value as written, who asked and when (as the client said)."""

    raw: str
    by: str
    at: str
    phase: str = ""


def pending(step: Step, kind: Kind) -> Request | None:
    """The request of this kind not answered yet, if any."""
    raw = step.plan.annotations.get(ANNOTATIONS[kind], "").strip()
    if not raw or step.status.get("requests", {}).get(kind) == raw:
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    return Request(raw, str(body.get("by") or "someone unnamed"), str(body.get("at") or timestamp(step.now)),
                   str(body.get("phase") or ""))


def _answer(status: PlanStatus, kind: Kind, request: Request) -> None:
    status["requests"] = {**status.get("requests", {}), kind: request.raw}


def _refuse(step: Step, kind: Kind, request: Request, why: str) -> None:
    _answer(step.status, kind, request)
    step.events.append(Event("Warning", f"{kind.capitalize()}Refused",
                             evidence.clip(f"{kind} asked by {request.by} at {request.at} is refused: {why}",
                                           evidence.SUMMARY_LIMIT)))


def retry(step: Step) -> bool:
    """Answer a new retry request: a plan that ended RolledBack or Failed starts attempt n+1 from
    the target's current values (True: the caller steps again); any other plan refuses it."""
    request = pending(step, "retry")
    if request is None:
        return False
    state = step.status.get("state", "Pending")
    if state == "RollingBack":
        _refuse(step, "retry", request, "a rollback is in progress and always ends first; ask again once the plan "
                                        "is RolledBack or Failed")
        return False
    if state not in RETRYABLE:
        _refuse(step, "retry", request, f"the plan is {state}; only a plan that ended RolledBack or Failed can be "
                                        "retried")
        return False
    if step.plan.aborted:
        _refuse(step, "retry", request, "the abort annotation is still set; remove it and ask again")
        return False
    _new_attempt(step, request, state)
    return True


def _new_attempt(step: Step, request: Request, ended: str) -> None:
    """Start again: a fresh status (preflight, baseline and every phase's recorded values anew),
    keeping the attempts so far and the requests answered."""
    old = step.status
    number = plan_status.attempt(old) + 1
    last: Attempt = {"attempt": number - 1, "state": ended, "reason": old.get("reason", ""),
                     "message": old.get("message", "")}
    fresh: PlanStatus = {"attempt": number, "attempts": [*old.get("attempts", []), last][-ATTEMPTS_KEPT:],
                         "retriedBy": request.by, "retriedAt": request.at, "requests": dict(old.get("requests", {}))}
    _answer(fresh, "retry", request)
    stale = pending(step, "proceed")  # a proceed left from the attempt before accepts nothing now
    if stale is not None:
        _answer(fresh, "proceed", stale)
    step.status = fresh
    step.move("Pending", "Retried", f"attempt {number}, asked by {request.by} at {request.at}: starting again "
                                    f"from the target's current values (attempt {number - 1} ended {ended}: "
                                    f"{last['reason']})")
    step.again = True


def proceed(step: Step) -> None:
    """Answer a new proceed request: a phase held by inconclusive gate checks is accepted as passed,
    recorded with who and when; anything else (no hold, a rollback, an abort) refuses it. A step
    that acts on the target this time answers it at the next."""
    request = pending(step, "proceed")
    if request is None or step.action is not None:
        return
    state, reason = step.status.get("state"), step.status.get("reason")
    record = plan_status.current_phase(step.status) or {}
    name = record.get("name", "")
    if (state, reason) not in HOLDS or step.spec is None or step.plan.aborted:
        _refuse(step, "proceed", request, f"there is no inconclusive hold to accept (the plan is {state}, {reason}); "
                                          "proceed accepts only a phase held by inconclusive gate checks")
    elif request.phase and request.phase != name:
        _refuse(step, "proceed", request, f"it names phase {request.phase}, but the hold is phase {name}")
    else:
        _answer(step.status, "proceed", request)
        observation.accept(step, step.status.get("currentPhase", 0), request.by, request.at)

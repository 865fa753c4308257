"""Observing a live phase: each gate check judged, the evidence it earns counted, a hold made
visible at once, drift noticed; the phase passes once a whole window of conclusive passing checks
is earned (see `evidence`)."""

from __future__ import annotations

from typing import Any

from tap_optimizer.plan import evidence, rollback
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import Event, GateVerdict
from tap_optimizer.plan.status import ConditionStatus, PhaseRecord
from tap_optimizer.plan.step import Step, parse_time, timestamp
from tap_optimizer.platform import pointer


def start(step: Step, index: int) -> None:
    """The phase is live: its window of evidence starts empty (after a resume too: a restart)."""
    record, name, window = step.phase_status(index), step.valid.phases[index].name, step.valid.gates.observation_window
    record.update({"state": "Observing", "appliedAt": timestamp(step.now), "observeUntil": step.at(window),
                   "lastCheckAt": timestamp(step.now), "inconclusiveInARow": 0,
                   "evidence": evidence.new_evidence(window), "checks": [], "gates": []})
    record.pop("checksDropped", None)
    step.status["nextCheckAt"] = step.at(min(step.valid.gates.interval, window))
    step.move("Observing", "Observing", f"phase {name} is live; observing the gates for {window:g} s of "
                                        f"conclusive passing checks (earliest end {record['observeUntil']})")


def observe(step: Step, index: int) -> None:
    """Judge the check the caller measured (see `machine.needs`). `suspend` does not stop a phase
    being observed: the plan holds at the next safe point, before the next phase."""
    if step.verdict is not None:
        _judge(step, index)


def _judge(step: Step, index: int) -> None:
    """Act on a gate verdict: roll back on Fail, count an Inconclusive, pass once a whole window of
    conclusive passing checks has been earned (see `evidence`)."""
    record, name, verdict = step.phase_status(index), step.valid.phases[index].name, step.verdict
    assert verdict is not None
    earned = _record_check(step, record, verdict)
    summary = evidence.summary(verdict)
    if verdict.verdict == "Fail":
        step.events.append(Event("Warning", "GateFail", f"phase {name}: {summary}"))
        gates_condition(step, "True", "Conclusive", f"the last check failed: {summary}")
        rollback.begin(step, "GateFailed", f"phase {name}: {summary}")
        return
    if verdict.verdict == "Inconclusive":
        _inconclusive(step, record, name, summary, verdict)
        return
    if record.get("inconclusiveInARow", 0) or not record.get("passedBefore"):
        step.events.append(Event("Normal", "GatePass", f"phase {name}: {summary}"))
    record.update({"inconclusiveInARow": 0, "passedBefore": True})
    gates_condition(step, "True", "Conclusive", f"the last check passed: {summary}")
    gained = record["evidence"]
    gained["conclusiveSeconds"] = round(gained["conclusiveSeconds"] + earned, 3)
    remaining = gained["requiredSeconds"] - gained["conclusiveSeconds"]
    if evidence.window_earned(gained["conclusiveSeconds"], gained["requiredSeconds"]):
        _phase_passed(step, index)
        return
    record["observeUntil"] = step.at(remaining)
    step.status["nextCheckAt"] = step.at(min(step.valid.gates.interval, remaining))
    step.move("Observing", "Observing", f"phase {name} is live: {gained['conclusiveSeconds']:g} of "
                                        f"{gained['requiredSeconds']:g} s of conclusive passing checks earned")


def watch(step: Step, index: int) -> None:
    """A plan paused with a live phase (its spec edited, drift) keeps its gates checked: no evidence
    is earned, but a Fail, or `inconclusiveLimit` inconclusive checks in a row, rolls it back."""
    verdict = step.verdict
    if verdict is None:
        return
    record, name = step.phase_status(index), step.phase_status(index)["name"]
    _record_check(step, record, verdict)
    step.status["nextCheckAt"] = step.at(step.valid.gates.interval)
    summary = evidence.summary(verdict)
    if verdict.verdict == "Fail":
        gates_condition(step, "True", "Conclusive", f"the last check failed: {summary}")
        rollback.begin(step, "GateFailed", f"phase {name} (while paused): {summary}")
    elif verdict.verdict == "Inconclusive":
        _inconclusive(step, record, name, summary, verdict)
    else:
        record["inconclusiveInARow"] = 0
        gates_condition(step, "True", "Conclusive", f"the last check passed (no evidence while paused): {summary}")


def unobserved(step: Step, index: int, why: str) -> None:
    """A live phase whose gates cannot be checked at all (the spec cannot run): every interval counts
    as an inconclusive check, and past the limit recorded at the start the phase is rolled back."""
    record, name = step.phase_status(index), step.phase_status(index)["name"]
    limit = int(step.recorded("inconclusiveLimit", 3))
    in_a_row = record.get("inconclusiveInARow", 0) + (1 if step.due() else 0)
    message = f"phase {name}: the gates cannot be checked ({why}); unobserved interval {in_a_row} of {limit}"
    gates_condition(step, "False", "NotChecked", message)
    if not step.due():
        return
    record["inconclusiveInARow"] = in_a_row
    if in_a_row >= limit:
        rollback.begin(step, "GatesInconclusive", message + "; an unobserved change does not stay")
    else:
        step.status["nextCheckAt"] = step.at(step.interval)


def _record_check(step: Step, record: PhaseRecord, verdict: GateVerdict) -> float:
    """Keep the check (compact, and in detail among the last few); return the evidence it earns."""
    now = timestamp(step.now)
    earned = evidence.credit(parse_time(record.get("lastCheckAt", record["appliedAt"])), step.now,
                             step.valid.gates.interval) if verdict.verdict == "Pass" else 0.0
    record["lastCheckAt"] = now
    if verdict.verdict != "Inconclusive":
        step.status["gatesAnsweredAt"] = now
    gained = record.setdefault("evidence", evidence.new_evidence(step.valid.gates.observation_window))
    gained["checks"][verdict.verdict] = gained["checks"].get(verdict.verdict, 0) + 1
    checks = [*record.get("checks", []), evidence.compact(verdict, now)]
    if len(checks) > evidence.MAX_CHECK_RECORDS:
        record["checksDropped"] = record.get("checksDropped", 0) + len(checks) - evidence.MAX_CHECK_RECORDS
        checks = checks[-evidence.MAX_CHECK_RECORDS:]
    record["checks"] = checks
    record["gates"] = [*record.get("gates", []), evidence.detail(verdict, now)][-evidence.DETAIL_CHECKS:]
    return earned


def gates_condition(step: Step, value: ConditionStatus, reason: str, message: str) -> None:
    """GatesConclusive: whether the gates can judge; an Event when it turns (edge-triggered)."""
    old = plan_status.condition(step.status, "GatesConclusive")
    if old is not None and (old["status"], old["reason"]) != (value, reason) and value == "False":
        step.events.append(Event("Warning", "GatesInconclusive", message))
    elif old is not None and old["status"] == "False" and value == "True":
        step.events.append(Event("Normal", "GatesConclusive", message))
    step.condition("GatesConclusive", value, reason, message)


def _inconclusive(step: Step, record: PhaseRecord, name: str, summary: str, verdict: GateVerdict) -> None:
    """Hold, visibly and at once; past `inconclusiveLimit` checks in a row roll back (the default)
    or pause (`onInconclusive: Pause`): an unobserved change does not stay by default."""
    in_a_row = record["inconclusiveInARow"] = record.get("inconclusiveInARow", 0) + 1
    limit, causes = step.valid.gates.inconclusive_limit, ", ".join(verdict.causes)
    step.status["nextCheckAt"] = step.at(step.valid.gates.interval)
    held = f"phase {name}: inconclusive gate check {in_a_row} of {limit} in a row ({causes}): {summary}"
    gates_condition(step, "False", verdict.causes[0] if verdict.causes else "Unknown", held)
    if not evidence.out_of_patience(in_a_row, limit):  # the GatesInconclusive Event says it: no second Event
        if step.status.get("state") == "Observing":
            step.move("Observing", "InconclusiveCheck", held + "; no evidence is earned while the gates cannot judge",
                      event=False)
        return
    if step.valid.gates.on_inconclusive == "RollBack":
        rollback.begin(step, "GatesInconclusive", held)
    else:
        step.move("Paused", "GatesInconclusive", held + "; the plan holds and keeps checking (onInconclusive: Pause)",
                  warning=True)


def accept(step: Step, index: int, by: str, at: str) -> None:
    """A person accepted the phase's inconclusive hold (`proceed`): it counts as passed, recorded
    with who, when and the hold they accepted."""
    record, name = step.phase_status(index), step.valid.phases[index].name
    condition = plan_status.condition(step.status, "GatesConclusive")
    held = condition["message"] if condition is not None else ""
    record.update({"acceptedBy": by, "acceptedAt": at, "acceptedHold": held})
    gates_condition(step, "True", "HoldAccepted", f"phase {name}: {by} accepted the inconclusive hold at {at}")
    _phase_passed(step, index, f"phase {name} was accepted by {by} at {at} despite inconclusive checks")


def _phase_passed(step: Step, index: int, how: str = "") -> None:
    name, record = step.valid.phases[index].name, step.phase_status(index)
    kept, dropped = evidence.finished(record.get("checks", []))
    record.update({"state": "Succeeded", "succeededAt": timestamp(step.now), "checks": kept})
    if dropped:
        record["checksDropped"] = record.get("checksDropped", 0) + dropped
    record.pop("gates", None)
    step.events.append(Event("Normal", "PhaseSucceeded", how or f"phase {name} passed its observation window"))
    if index + 1 < len(step.valid.phases):
        step.status["currentPhase"] = index + 1
        step.move("Progressing", "NextPhase", f"phase {name} passed; starting phase "
                                                   f"{step.valid.phases[index + 1].name}")
        step.again = True
    else:
        step.move("Succeeded", "AllPhasesSucceeded", f"all {len(step.valid.phases)} phases passed")
        step.status.pop("nextCheckAt", None)
        rollback.release(step)


def drift(step: Step) -> list[str]:
    """Paths the applied phases changed whose value is no longer the planned one, each as
    "path: planned X, found Y" (a later phase's plan for a path replaces an earlier one's)."""
    planned: dict[str, Any] = {}
    for record in step.status.get("phases", []):
        paths = {e["path"]: e.get("after", pointer.ABSENT) for e in record.get("changes", [])}
        if record["state"] not in ("Applying", "Applied", "Observing", "Succeeded"):
            continue
        for path in list(planned):  # a later phase's plan for a path, its parent or child replaces it
            if any(_overlaps(path, later) for later in paths):
                del planned[path]
        if record["state"] != "Applying":  # being patched: either value is expected
            planned.update(paths)
    found = []
    for path, value in planned.items():
        now = step.target.kind.get(step.target.obj, path)
        if not step.target.kind.holds(now, value):
            found.append(f"{path}: planned {_shown(value)}, found {_shown(now)}")
    return found


def _overlaps(one: str, other: str) -> bool:
    return one == other or one.startswith((other + "/", other + "[")) or other.startswith((one + "/", one + "["))


def _shown(value: Any) -> str:
    return "absent" if value is pointer.ABSENT else evidence.clip(repr(value), 120)

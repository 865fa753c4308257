"""The OptimizationPlan state machine: one pure step from (plan, status, target, gates, clock) to
(next status, at most one action on the target, events).

Crash safety comes from two rules. All progress lives in status, and every wait is a timestamp
in it. And every step that changes the target first looks at the target: a phase whose values
already are the planned ones is not patched again, a rollback whose values already are the
recorded ones is not restored again, and a lock already held by this plan is not taken again.
So a step may be repeated after a crash at any point and changes nothing twice.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from typing import Any

from tap_optimizer.gates.evaluate import capped
from tap_optimizer.plan import doors, evidence
from tap_optimizer.plan.model import (
    TERMINAL,
    Action,
    Baseline,
    Decision,
    Event,
    GateVerdict,
    PlanRef,
    Preflight,
    Target,
)
from tap_optimizer.plan.spec import Phase, PlanSpec
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import parameter_errors

READINESS_POLL_SECONDS = 10.0
BLOCKED_RETRY_SECONDS = 30.0  # how often a blocked or waiting plan looks again without an event


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def phases_digest(spec: PlanSpec) -> str:
    """A fingerprint of the target and phases, to notice edits after the plan started."""
    body = json.dumps([spec.target, [[p.name, [[c.op, c.path, repr(c.value)] for c in p.changes]]
                                     for p in spec.phases]], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


class Step:
    """Working state of one step; the public entry point is `decide`."""

    def __init__(self, plan: PlanRef, spec: PlanSpec, status: dict[str, Any], target: Target,
                 now: dt.datetime, verdict: GateVerdict | None, baseline: Baseline | None,
                 preflight: Preflight | None):
        self.plan, self.spec, self.target, self.now = plan, spec, target, now
        self.verdict, self.baseline, self.preflight = verdict, baseline, preflight
        self.status = copy.deepcopy(status) or {}
        self.events: list[Event] = []
        self.action: Action | None = None
        self.again = False

    # -- helpers that shape the status -------------------------------------------------------

    def at(self, seconds: float) -> str:
        return timestamp(self.now + dt.timedelta(seconds=seconds))

    def due(self) -> bool:
        next_check = self.status.get("nextCheckAt")
        return next_check is None or parse_time(next_check) <= self.now

    def phase_status(self, index: int) -> dict[str, Any]:
        return self.status["phases"][index]

    def move(self, state: str, reason: str, message: str, warning: bool = False, event: bool = True) -> None:
        """Enter a plan state, with a condition and (unless another Event says it) an Event saying why.
        The message is clipped (see `evidence`): it may quote values and errors of any size."""
        message = evidence.clip(message, evidence.SUMMARY_LIMIT)
        if event and (self.status.get("state") != state or self.status.get("reason") != reason):
            self.events.append(Event("Warning" if warning else "Normal", reason, message))
        self.status.update(state=state, reason=reason, message=message)
        ready = {"Succeeded": "True", "RolledBack": "False", "Failed": "False"}.get(state, "Unknown")
        set_condition(self.status, "Ready", ready, reason, message, self.now)

    def finish(self) -> Decision:
        done = sum(p["state"] in ("Succeeded", "WouldPatch") for p in self.status.get("phases", []))
        self.status["progress"] = f"{done}/{len(self.spec.phases)}"
        self.status["projectedMonthlySavings"] = round(sum(p.projected_monthly_savings for p in self.spec.phases), 2)
        self.status["observedGeneration"] = self.plan.generation
        return Decision(self.status, self.action, tuple(self.events), self.again)


def set_condition(status: dict[str, Any], kind: str, value: str, reason: str, message: str,
                  now: dt.datetime) -> None:
    """Set one condition, keeping its transition time when its status does not change."""
    conditions = [c for c in status.get("conditions", []) if c["type"] != kind]
    old = next((c for c in status.get("conditions", []) if c["type"] == kind), None)
    since = old["lastTransitionTime"] if old and old["status"] == value else timestamp(now)
    conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                       "lastTransitionTime": since})
    status["conditions"] = sorted(conditions, key=lambda c: c["type"])


def needs(spec: PlanSpec, status: dict[str, Any], now: dt.datetime) -> set[str]:
    """What the caller must measure before `decide` (I/O it owns): `preflight` (every gate query
    answers once), then `baseline`, before any change; `gates` when a check is due."""
    state = status.get("state")
    if spec.dry_run or state in TERMINAL:
        return set()
    if state in (None, "Pending", "Blocked") and "preflightAt" not in status:
        return {"preflight"}
    if state == "Progressing" and status.get("lock") and "baseline" not in status:
        return {"baseline"}
    due = "nextCheckAt" not in status or parse_time(status["nextCheckAt"]) <= now
    paused_on_gates = state == "Paused" and status.get("reason") == "GatesInconclusive"
    return {"gates"} if due and (state == "Observing" or paused_on_gates) else set()


def decide(plan: PlanRef, spec: PlanSpec, status: dict[str, Any], target: Target, now: dt.datetime, *,
           verdict: GateVerdict | None = None, baseline: Baseline | None = None,
           preflight: Preflight | None = None) -> Decision:
    """The next step of the plan, given what `needs` asked to be measured."""
    step = Step(plan, spec, status, target, now, verdict, baseline, preflight)
    state = step.status.get("state", "Pending")
    if state in TERMINAL:
        _release(step)
    elif state in ("Pending", "Blocked") and plan.aborted:
        step.move("RolledBack", "Aborted", "aborted before any change")
        _release(step)
    elif state in ("Pending", "Blocked"):
        _start(step)
    elif state == "RollingBack":
        _roll_back(step)
    elif plan.aborted:
        _begin_rollback(step, "Aborted", "the abort annotation asks to roll every applied phase back")
    elif step.status.get("phasesDigest") != phases_digest(spec):
        step.move("Paused", "SpecChanged", "the target or phases changed after the plan started; "
                  "revert the edit, or abort the plan", warning=True)
    elif state == "Paused":
        _paused(step)
    else:
        _advance(step)
    return step.finish()


# -- start: dry run, lock, baseline --------------------------------------------------------------

def _start(step: Step) -> None:
    if step.spec.dry_run:
        _dry_run(step)
    elif not step.target.exists:
        _block(step, "TargetNotFound", f"TapPlatform {step.spec.target} does not exist")
    elif step.target.lock_holder not in (None, step.plan.holder):
        _block(step, "TargetLocked", f"TapPlatform {step.spec.target} is being changed by plan "
                                     f"{step.target.lock_holder}; this plan waits until it finishes")
    elif not _preflight(step):
        return
    elif step.target.lock_holder is None:
        step.action, step.again = Action("lock"), True
        step.status["nextCheckAt"] = step.at(0)
    else:
        step.status.update(lock={"target": step.spec.target, "holder": step.plan.holder},
                           phasesDigest=phases_digest(step.spec), currentPhase=0, startedAt=timestamp(step.now),
                           phases=[{"name": p.name, "state": "Pending"} for p in step.spec.phases])
        step.move("Progressing", "Started", f"took TapPlatform {step.spec.target}; measuring the baseline")
        step.again = True


def _block(step: Step, reason: str, message: str) -> None:
    step.move("Blocked", reason, message, warning=True)
    step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)


def _dry_run(step: Step) -> None:
    """Record, phase by phase, the patch the plan would make; touch nothing."""
    parameters = step.target.parameters
    step.status["phases"] = []
    for phase in step.spec.phases:
        after, problems = _apply(phase, parameters)
        record: dict[str, Any] = {"name": phase.name, "state": "WouldPatch" if not problems else "Invalid"}
        if problems:
            record["message"] = problems
        else:
            record["wouldPatch"] = [op for c in phase.changes
                                    for op in pointer.patch_ops(c.path, pointer.get(parameters, c.path), c.value)]
            record["oneWayDoors"] = evidence.doors(doors.one_way_doors(parameters, after))
            parameters = after
        step.status["phases"].append(record)
    invalid = [p["name"] for p in step.status["phases"] if p["state"] == "Invalid"]
    if invalid:
        step.move("Failed", "DryRunInvalid", f"dry run: phases {', '.join(invalid)} cannot apply", warning=True)
    else:
        step.move("Succeeded", "DryRun", f"dry run: recorded the patches of {len(step.spec.phases)} phases; "
                                         "nothing was changed")


def _apply(phase: Phase, parameters: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The parameters after the phase, or the reason it cannot apply to them."""
    after = parameters
    try:
        for change in phase.changes:
            after = pointer.put(after, change.path, change.value)
    except pointer.PointerError as error:
        return parameters, str(error)
    errors = parameter_errors(after)
    return after, "; ".join(map(str, errors))


# -- the phases ----------------------------------------------------------------------------------

def _advance(step: Step) -> None:
    if "baseline" not in step.status and not _capture_baseline(step):
        return
    index = step.status["currentPhase"]
    handler = {"Pending": _phase_pending, "AwaitingApproval": _phase_pending, "Applying": _phase_applying,
               "Applied": _phase_applied, "Observing": _phase_observing}
    handler[step.phase_status(index)["state"]](step, index)


def _preflight(step: Step) -> bool:
    """True once every gate and volume query has answered once, before the target is even locked.

    A query the backend rejects (bad PromQL) can never be judged: the plan fails, nothing patched.
    One that is not answered yet (Prometheus unreachable, a partial answer) keeps the plan Pending,
    nothing patched, the target not taken."""
    if "preflightAt" in step.status:
        return True
    found = step.preflight
    if found is None:
        return False  # the caller asks first (see `needs`)
    if found.rejected:
        message = evidence.clip("a gate query was rejected; nothing was changed: " + "; ".join(found.rejected),
                                evidence.SUMMARY_LIMIT)
        _gates_condition(step, "False", "QueryRejected", message)
        step.move("Failed", "InvalidQuery", message, warning=True)
        step.status.pop("nextCheckAt", None)
        return False
    if found.unanswered:
        message = evidence.clip("waiting for every gate query to answer once; nothing is changed until then: "
                                + "; ".join(found.unanswered), evidence.SUMMARY_LIMIT)
        _gates_condition(step, "False", "PreflightUnanswered", message)
        step.move("Pending", "PreflightUnanswered", message, warning=True)
        step.status["nextCheckAt"] = step.at(min(step.spec.gates.interval, BLOCKED_RETRY_SECONDS))
        return False
    step.status["preflightAt"] = timestamp(step.now)
    step.status["gateQueries"] = {m.name: evidence.clip(m.query, evidence.QUERY_LIMIT)
                                  for m in step.spec.gates.metrics}
    _gates_condition(step, "True", "PreflightAnswered", "every gate query answered once")
    return True


def _capture_baseline(step: Step) -> bool:
    """Keep the baseline measured before any change; True once every relative bound has one.

    A metric with `maxIncreaseOverBaseline` and no baseline could never pass, so the plan waits
    for one (Prometheus down, no traffic yet, too little traffic in the window) instead of starting
    a change it cannot judge. The baseline is capped (see `evidence`)."""
    if step.baseline is None:
        return False  # the caller measures it first (see `needs`)
    measured = step.baseline
    missing = {m.name: measured.missing.get(m.name, "no data") for m in step.spec.gates.metrics
               if m.max_increase_over_baseline is not None and not measured.values.get(m.name)}
    if missing:
        attempts = step.status.get("baselineAttempts", 0) + 1
        step.status.update(baselineAttempts=attempts, nextCheckAt=step.at(step.spec.gates.interval))
        why = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
        message = evidence.clip(f"no baseline yet (attempt {attempts}): {why}; nothing is changed until there is "
                                "one", evidence.SUMMARY_LIMIT)
        step.move("Progressing", "BaselineUnavailable", message)
        if attempts == step.spec.gates.inconclusive_limit:
            step.events.append(Event("Warning", "BaselineUnavailable", message))
        return False
    step.status.pop("baselineAttempts", None)
    cap = evidence.baseline_cap(len(step.spec.gates.metrics))
    kept: dict[str, Any] = {}
    overflow: dict[str, Any] = {}
    for name, values in measured.values.items():
        kept[name], left = capped(values, cap, evidence.BASELINE_KEY_LIMIT)
        if left:
            overflow[name] = left
    step.status.update(baseline=kept, baselineAt=timestamp(step.now))
    if overflow:
        step.status["baselineOverflow"] = overflow
    counts = ", ".join(f"{name}: {len(values)} series" for name, values in measured.values.items())
    step.events.append(Event("Normal", "BaselineCaptured", f"baseline before any change: {counts or 'no metric'}"))
    return True


def _phase_pending(step: Step, index: int) -> None:
    phase, record = step.spec.phases[index], step.phase_status(index)
    if step.spec.suspend:
        _pause(step, "Suspended", "spec.suspend is true; the plan waits before its next phase")
        return
    after, problem = _apply(phase, step.target.parameters)
    changes = [_recorded(c.path, pointer.get(step.target.parameters, c.path), c.value) for c in phase.changes]
    problem = problem or _record_too_large(step, changes)
    if problem:
        _begin_rollback(step, "InvalidChange", f"phase {phase.name} cannot apply: {problem}")
        return
    one_way = evidence.doors(doors.one_way_doors(step.target.parameters, after))
    if _needs_approval(step, phase, one_way):
        record.update(state="AwaitingApproval", oneWayDoors=one_way)
        why = "it is marked requiresApproval" if phase.requires_approval else "; ".join(one_way)
        approve = ",".join(sorted(step.plan.approved_phases | {phase.name}))
        step.move("AwaitingApproval", "AwaitingApproval",
                  f"phase {phase.name} waits for `kubectl annotate optplan {step.plan.name} -n {step.plan.namespace} "
                  f"--overwrite optimization.tap.io/approve={approve}` (a comma-separated list of approved "
                  f"phases): {why}")
        step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)  # annotations also wake it at once
        return
    if phase.requires_approval or one_way:  # approved by the annotation, or by approveIrreversible
        record["approvedAt"] = timestamp(step.now)
    record.update(state="Applying", startedAt=timestamp(step.now), oneWayDoors=one_way, changes=changes)
    step.move("Progressing", "Recorded", f"phase {phase.name}: recorded the previous value of "
                                         f"{len(phase.changes)} parameters; patching")
    step.again = True


def _record_too_large(step: Step, changes: list[dict[str, Any]]) -> str:
    """Why recording these changes would break the status' size budget (see `evidence`), or ''."""
    kept = [p.get("changes", []) for p in step.status.get("phases", [])]
    size = len(json.dumps([*kept, changes], separators=(",", ":"), default=str))
    if size <= evidence.MAX_RECORDED_BYTES:
        return ""
    return (f"recording the previous values would take {size} bytes of status; at most "
            f"{evidence.MAX_RECORDED_BYTES} (split the plan)")


def _needs_approval(step: Step, phase: Phase, one_way: list[str]) -> bool:
    wanted = phase.requires_approval or (bool(one_way) and not step.spec.approve_irreversible)
    return wanted and phase.name not in step.plan.approved_phases


def _recorded(path: str, before: Any, after: Any) -> dict[str, Any]:
    """One changed path as kept in status; an absent value is an absent key."""
    entry: dict[str, Any] = {"path": path}
    if before is not pointer.ABSENT:
        entry["before"] = before
    if after is not pointer.ABSENT:
        entry["after"] = after
    return entry


def _values(entries: list[dict[str, Any]], side: str) -> list[Any]:
    return [e.get(side, pointer.ABSENT) for e in entries]


def _current(step: Step, entries: list[dict[str, Any]]) -> list[Any]:
    return [pointer.get(step.target.parameters, e["path"]) for e in entries]


def _phase_applying(step: Step, index: int) -> None:
    """Patch, unless the target already holds the phase's values (a crash after the patch)."""
    record, name = step.phase_status(index), step.spec.phases[index].name
    current, entries = _current(step, record["changes"]), record["changes"]
    if current == _values(entries, "after"):
        record.update(state="Applied", patchedAt=timestamp(step.now), patchedGeneration=step.target.generation)
        step.move("Progressing", "Patched", f"phase {name}: TapPlatform patched (generation "
                                            f"{step.target.generation}); waiting for Synced and Ready")
        step.status["nextCheckAt"] = step.at(0)
        step.again = True
    elif current == _values(entries, "before"):
        ops = [op for e in entries for op in pointer.patch_ops(e["path"], e.get("before", pointer.ABSENT),
                                                               e.get("after", pointer.ABSENT))]
        step.action, step.again = Action("patch", tuple(ops)), True
    else:
        changed = [e["path"] for e, value in zip(entries, current, strict=True)
                   if value not in (e.get("before", pointer.ABSENT), e.get("after", pointer.ABSENT))]
        _begin_rollback(step, "Conflict", f"phase {name}: someone else changed {', '.join(changed)} "
                                          "since the plan recorded it")


def _phase_applied(step: Step, index: int) -> None:
    record, name = step.phase_status(index), step.spec.phases[index].name
    readiness = step.target.readiness
    if readiness.state == "Refused":
        _begin_rollback(step, "ApplyRefused", f"phase {name}: {readiness.message}")
    elif readiness.state == "Ready":
        _start_observing(step, index)
    elif parse_time(record["patchedAt"]).timestamp() + step.spec.apply_timeout <= step.now.timestamp():
        _begin_rollback(step, "ApplyTimeout", f"phase {name}: not Synced and Ready after "
                                              f"{step.spec.apply_timeout:.0f} s: {readiness.message}")
    else:
        step.status["nextCheckAt"] = step.at(min(READINESS_POLL_SECONDS, step.spec.gates.interval))


def _start_observing(step: Step, index: int) -> None:
    """The phase is live: its window of evidence starts empty (after a resume too: a restart)."""
    record, name, window = step.phase_status(index), step.spec.phases[index].name, step.spec.gates.observation_window
    record.update(state="Observing", appliedAt=timestamp(step.now), observeUntil=step.at(window),
                  lastCheckAt=timestamp(step.now), inconclusiveInARow=0, evidence=evidence.new_evidence(window),
                  checks=[], gates=[])
    record.pop("checksDropped", None)
    step.status["nextCheckAt"] = step.at(min(step.spec.gates.interval, window))
    step.move("Observing", "Observing", f"phase {name} is live; observing the gates for {window:g} s of "
                                        f"conclusive passing checks (earliest end {record['observeUntil']})")


def _phase_observing(step: Step, index: int) -> None:
    if step.spec.suspend:
        _pause(step, "Suspended", "spec.suspend is true; observation restarts when the plan resumes")
        return
    if step.verdict is None:
        return  # not due yet, or the caller measures first (see `needs`)
    _judge(step, index)


def _judge(step: Step, index: int) -> None:
    """Act on a gate verdict: roll back on Fail, count an Inconclusive, pass once a whole window of
    conclusive passing checks has been earned (see `evidence`)."""
    record, name, verdict = step.phase_status(index), step.spec.phases[index].name, step.verdict
    assert verdict is not None
    earned = _record_check(step, record, verdict)
    summary = evidence.summary(verdict)
    if verdict.verdict == "Fail":
        step.events.append(Event("Warning", "GateFail", f"phase {name}: {summary}"))
        _gates_condition(step, "True", "Conclusive", f"the last check failed: {summary}")
        _begin_rollback(step, "GateFailed", f"phase {name}: {summary}")
        return
    if verdict.verdict == "Inconclusive":
        _inconclusive(step, record, name, summary, verdict)
        return
    if record.get("inconclusiveInARow", 0) or not record.get("passedBefore"):
        step.events.append(Event("Normal", "GatePass", f"phase {name}: {summary}"))
    record.update(inconclusiveInARow=0, passedBefore=True)
    _gates_condition(step, "True", "Conclusive", f"the last check passed: {summary}")
    gained = record["evidence"]
    gained["conclusiveSeconds"] = round(gained["conclusiveSeconds"] + earned, 3)
    remaining = gained["requiredSeconds"] - gained["conclusiveSeconds"]
    if remaining <= evidence.CLOCK_SLACK / 1000:
        _phase_passed(step, index)
        return
    record["observeUntil"] = step.at(remaining)
    step.status["nextCheckAt"] = step.at(min(step.spec.gates.interval, remaining))
    step.move("Observing", "Observing", f"phase {name} is live: {gained['conclusiveSeconds']:g} of "
                                        f"{gained['requiredSeconds']:g} s of conclusive passing checks earned")


def _record_check(step: Step, record: dict[str, Any], verdict: GateVerdict) -> float:
    """Keep the check (compact, and in detail among the last few); return the evidence it earns."""
    now = timestamp(step.now)
    earned = evidence.credit(parse_time(record.get("lastCheckAt", record["appliedAt"])), step.now,
                             step.spec.gates.interval) if verdict.verdict == "Pass" else 0.0
    record["lastCheckAt"] = now
    gained = record.setdefault("evidence", evidence.new_evidence(step.spec.gates.observation_window))
    gained["checks"][verdict.verdict] = gained["checks"].get(verdict.verdict, 0) + 1
    checks = [*record.get("checks", []), evidence.compact(verdict, now)]
    if len(checks) > evidence.MAX_CHECK_RECORDS:
        record["checksDropped"] = record.get("checksDropped", 0) + len(checks) - evidence.MAX_CHECK_RECORDS
        checks = checks[-evidence.MAX_CHECK_RECORDS:]
    record["checks"] = checks
    record["gates"] = [*record.get("gates", []), evidence.detail(verdict, now)][-evidence.DETAIL_CHECKS:]
    return earned


def _gates_condition(step: Step, value: str, reason: str, message: str) -> None:
    """GatesConclusive: whether the gates can judge; an Event when it turns (edge-triggered)."""
    old = next((c for c in step.status.get("conditions", []) if c["type"] == "GatesConclusive"), None)
    if old is not None and (old["status"], old["reason"]) != (value, reason) and value == "False":
        step.events.append(Event("Warning", "GatesInconclusive", message))
    elif old is not None and old["status"] == "False" and value == "True":
        step.events.append(Event("Normal", "GatesConclusive", message))
    set_condition(step.status, "GatesConclusive", value, reason, message, step.now)


def _inconclusive(step: Step, record: dict[str, Any], name: str, summary: str, verdict: GateVerdict) -> None:
    """Hold, visibly and at once; past `inconclusiveLimit` checks in a row roll back (the default)
    or pause (`onInconclusive: Pause`): an unobserved change does not stay by default."""
    in_a_row = record["inconclusiveInARow"] = record.get("inconclusiveInARow", 0) + 1
    limit, causes = step.spec.gates.inconclusive_limit, ", ".join(verdict.causes)
    step.status["nextCheckAt"] = step.at(step.spec.gates.interval)
    held = f"phase {name}: inconclusive gate check {in_a_row} of {limit} in a row ({causes}): {summary}"
    _gates_condition(step, "False", verdict.causes[0] if verdict.causes else "Unknown", held)
    if in_a_row < limit:  # the GatesInconclusive Event says it: no second Event
        step.move(step.status.get("state", "Observing"), "InconclusiveCheck",
                  held + "; no evidence is earned while the gates cannot judge", event=False)
        return
    if step.spec.gates.on_inconclusive == "RollBack":
        _begin_rollback(step, "GatesInconclusive", held)
    else:
        step.move("Paused", "GatesInconclusive", held + "; the plan holds and keeps checking (onInconclusive: Pause)",
                  warning=True)


def _phase_passed(step: Step, index: int) -> None:
    name, record = step.spec.phases[index].name, step.phase_status(index)
    kept, dropped = evidence.finished(record.get("checks", []))
    record.update(state="Succeeded", succeededAt=timestamp(step.now), checks=kept)
    if dropped:
        record["checksDropped"] = record.get("checksDropped", 0) + dropped
    record.pop("gates", None)
    step.events.append(Event("Normal", "PhaseSucceeded", f"phase {name} passed its observation window"))
    if index + 1 < len(step.spec.phases):
        step.status["currentPhase"] = index + 1
        step.move("Progressing", "NextPhase", f"phase {name} passed; starting phase "
                                                   f"{step.spec.phases[index + 1].name}")
        step.again = True
    else:
        step.move("Succeeded", "AllPhasesSucceeded", f"all {len(step.spec.phases)} phases passed")
        step.status.pop("nextCheckAt", None)
        _release(step)


# -- pause and resume ----------------------------------------------------------------------------

def _pause(step: Step, reason: str, message: str) -> None:
    step.move("Paused", reason, message)
    step.status.pop("nextCheckAt", None)


def _paused(step: Step) -> None:
    index = step.status["currentPhase"]
    record = step.phase_status(index)
    if step.status.get("reason") == "GatesInconclusive":
        if step.verdict is not None:
            _judge(step, index)
        return
    if step.spec.suspend:
        return
    if record["state"] == "Observing":
        record["state"] = "Applied"  # observe the whole window again once readiness is confirmed
    step.move("Progressing", "Resumed", "the plan resumes")
    step.again = True


# -- rollback ------------------------------------------------------------------------------------

TOUCHED = ("Applying", "Applied", "Observing", "Succeeded")


def _begin_rollback(step: Step, reason: str, message: str) -> None:
    touched = [p for p in step.status.get("phases", []) if p["state"] in TOUCHED]
    for record in touched:
        record["state"] = "RollingBack"
    step.status["rollbackReason"] = reason
    step.move("RollingBack", reason, message + f"; rolling back {len(touched)} phases, newest first", warning=True)
    step.again = True


def _roll_back(step: Step) -> None:
    """Restore the newest phase still to roll back; report paths someone else changed since."""
    pending = [i for i, p in enumerate(step.status.get("phases", [])) if p["state"] == "RollingBack"]
    if not pending:
        _restored(step)
        return
    index = pending[-1]
    record, name = step.phase_status(index), step.status["phases"][index]["name"]
    entries = record.get("changes", [])
    current = _current(step, entries)
    ours = [e for e, value in zip(entries, current, strict=True) if value == e.get("after", pointer.ABSENT)
            and value != e.get("before", pointer.ABSENT)]
    if ours:
        ops = [op for e in ours for op in pointer.patch_ops(e["path"], e.get("after", pointer.ABSENT),
                                                            e.get("before", pointer.ABSENT))]
        step.action, step.again = Action("patch", tuple(ops)), True
        return
    conflicts = [e["path"] for e, value in zip(entries, current, strict=True)
                 if value not in (e.get("before", pointer.ABSENT), e.get("after", pointer.ABSENT))]
    record.update(state="RolledBack", rolledBackAt=timestamp(step.now), conflicts=conflicts)
    recreated = record.get("oneWayDoors", [])
    detail = f"; re-created what it removed ({'; '.join(recreated)})" if recreated else ""
    step.events.append(Event("Warning" if conflicts else "Normal", "PhaseRolledBack",
                             f"phase {name}: restored the recorded values{detail}"
                             + (f"; left {', '.join(conflicts)} alone: changed by someone else" if conflicts else "")))
    step.again = True


def restoring(status: dict[str, Any]) -> bool:
    """Whether every recorded value is back and the plan waits for the target to catch up."""
    return status.get("state") == "RollingBack" and not any(
        p["state"] == "RollingBack" for p in status.get("phases", []))


def _restored(step: Step) -> None:
    """Every recorded value is back: the rollback is done once the TapPlatform and the composed
    resources it restored are Synced and Ready, as a phase is applied only then."""
    check = step.status.setdefault("restore", {"generation": step.target.generation, "since": timestamp(step.now)})
    readiness = step.target.readiness
    if readiness.state == "Ready":
        _rolled_back(step)
    elif readiness.state == "Refused":
        _restore_failed(step, f"the restored values were refused: {readiness.message}")
    elif parse_time(check["since"]).timestamp() + step.spec.apply_timeout <= step.now.timestamp():
        _restore_failed(step, f"not Synced and Ready {step.spec.apply_timeout:.0f} s after the restore: "
                              f"{readiness.message}")
    else:
        step.status["nextCheckAt"] = step.at(min(READINESS_POLL_SECONDS, step.spec.gates.interval))
        check["waitingFor"] = readiness.message


def _restore_failed(step: Step, message: str) -> None:
    set_condition(step.status, "Restored", "False", "RestoreNotReady", message, step.now)
    step.move("Failed", "RestoreNotReady", f"{message}; the recorded values are in place, the platform needs a look",
              warning=True)
    step.status.pop("nextCheckAt", None)
    _release(step)


def _rolled_back(step: Step) -> None:
    conflicts = {p["name"]: p["conflicts"] for p in step.status.get("phases", []) if p.get("conflicts")}
    reason = step.status.get("rollbackReason", "RolledBack")
    if conflicts:
        message = "; ".join(f"phase {n}: {', '.join(paths)}" for n, paths in conflicts.items())
        set_condition(step.status, "Conflict", "True", "ChangedBySomeoneElse",
                      f"not restored, changed by someone else since the plan patched them: {message}", step.now)
        step.move("Failed", reason, f"rolled back, except paths changed by someone else: {message}", warning=True)
    else:
        step.move("RolledBack", reason, f"every applied phase was restored ({step.status.get('message', '')})",
                  warning=True)
    step.status.pop("nextCheckAt", None)
    _release(step)


def _release(step: Step) -> None:
    if step.target.exists and step.target.lock_holder == step.plan.holder:
        step.action = Action("unlock")


def refuse(plan: PlanRef, status: dict[str, Any], problems: list[str], now: dt.datetime) -> Decision:
    """A plan whose spec cannot run: Failed, naming every field, and nothing touched.

    A plan already under way keeps its recorded changes; it is paused instead, so a bad edit
    never leaves a phase half-observed or rolls production back by surprise.
    """
    status = copy.deepcopy(status) or {}
    message = "invalid spec: " + "; ".join(problems)
    under_way = status.get("state") not in (None, "Pending", "Blocked", *TERMINAL)
    state = "Paused" if under_way else "Failed"
    events = () if status.get("message") == message else (Event("Warning", "InvalidSpec", message),)
    status.update(state=state, reason="InvalidSpec", message=message, observedGeneration=plan.generation)
    status.pop("nextCheckAt", None)
    set_condition(status, "Ready", "Unknown" if under_way else "False", "InvalidSpec", message, now)
    return Decision(status, None, events)

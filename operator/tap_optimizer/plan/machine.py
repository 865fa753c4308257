"""The OptimizationPlan state machine: one pure step from (plan, status, target, gates, clock) to
(next status, at most one action on the target, events).

Crash safety comes from two rules. All progress lives in status, and every wait is a timestamp
in it. And every step that changes the target first looks at the target: a phase whose values
already are the planned ones is not patched again, a rollback whose values already are the
recorded ones is not restored again, and a lock already held by this plan is not taken again.
So a step may be repeated after a crash at any point and changes nothing twice.

The order of `decide` is the order of precedence: a finished plan only releases its target; a
rollback always goes on (rollback.py); a deleted or taken target ends the plan; a lost lock is
taken again before anything else; abort rolls back from any state; an invalid spec pauses a plan
under way (or fails one that has not started); drift pauses; then the plan goes on. Before all of
them a retry starts a plan that ended RolledBack or Failed again; after them a proceed accepts an
inconclusive hold (requests.py).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from tap_optimizer.gates.evaluate import capped
from tap_optimizer.plan import evidence, observation, requests, rollback
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import (
    TERMINAL,
    Action,
    BacktestSummary,
    Baseline,
    Decision,
    Event,
    GateVerdict,
    PlanRef,
    Preflight,
    State,
    Target,
)
from tap_optimizer.plan.spec import Phase, PlanSpec
from tap_optimizer.plan.status import ChangeRecord, PhaseRecord, PlanStatus
from tap_optimizer.plan.step import (
    BLOCKED_RETRY_SECONDS,
    Step,
    approval_digest,
    gates_digest,
    parse_time,
    phases_digest,
    settings,
    timestamp,
)
from tap_optimizer.platform import pointer
from tap_optimizer.targets.kinds import TargetKind

__all__ = ["decide", "needs", "parse_time", "timestamp"]


def needs(spec: PlanSpec | None, status: PlanStatus, now: dt.datetime) -> set[str]:
    """What the caller must measure before `decide` (I/O it owns): `preflight` (every gate query
    answers once) before the target is taken and before a phase that waited changes anything,
    `baseline` before any change, `gates` when a check of a live phase is due. Nothing for a plan
    whose spec cannot run, a dry run, a rollback or a finished plan."""
    state = status.get("state")
    if spec is None or state in TERMINAL or state == "RollingBack":
        return set()
    if state in (None, "Pending", "Blocked"):
        if spec.dry_run:
            return set()
        return {"preflight"} if "preflightAt" not in status else {"backtest"} if _backtest_due(spec, status) else set()
    if status.get("lock") and "baseline" not in status and state in ("Progressing", "AwaitingApproval"):
        return {"baseline"}
    if _waiting_phase(status) and not _answered_since(status, now, spec.gates.interval):
        return {"preflight"}
    due = "nextCheckAt" not in status or parse_time(status["nextCheckAt"]) <= now
    watched = state == "Paused" and status.get("reason") in WATCHED_PAUSES and _live(status)
    return {"gates"} if due and (state == "Observing" or watched) else set()


WATCHED_PAUSES = ("GatesInconclusive", "Drift", "SpecChanged")


def _backtest_due(spec: PlanSpec, status: PlanStatus) -> bool:
    """A plan with spec.gates.backtest replays its gates before it takes the target, again when the
    gates were edited since."""
    recorded = status.get("backtest")
    return spec.gates.backtest is not None and (not isinstance(recorded, dict) or
                                                recorded.get("gatesDigest") != gates_digest(spec))


def _current_record(status: PlanStatus) -> PhaseRecord:
    return plan_status.current_phase(status) or {}


def _live(status: PlanStatus) -> bool:
    return _current_record(status).get("state") == "Observing"


def _waiting_phase(status: PlanStatus) -> bool:
    return status.get("state") in ("Progressing", "AwaitingApproval", "Paused") and \
        _current_record(status).get("state") in ("Pending", "AwaitingApproval")


def _answered_since(status: PlanStatus, now: dt.datetime, interval: float) -> bool:
    answered = status.get("gatesAnsweredAt")
    return isinstance(answered, str) and (now - parse_time(answered)).total_seconds() <= interval + evidence.CLOCK_SLACK


def decide(plan: PlanRef, spec: PlanSpec | None, status: PlanStatus, target: Target, now: dt.datetime, *,
           problems: tuple[str, ...] = (), verdict: GateVerdict | None = None, baseline: Baseline | None = None,
           preflight: Preflight | None = None, backtest: BacktestSummary | None = None) -> Decision:
    """The next step of the plan, given what `needs` asked to be measured. `spec` is None, and
    `problems` names every field, when the spec cannot run."""
    step = Step(plan, spec, status, target, now, verdict, baseline, preflight, backtest)
    if requests.retry(step):
        return step.finish()
    state = step.status.get("state", "Pending")
    if state in TERMINAL:
        step.mark_ended()
        if not step.target.not_allowed:
            rollback.release(step)
    elif step.under_way and step.target.not_allowed:
        _held_back(step, state)
    elif state == "RollingBack":
        rollback.roll_back(step)
    elif step.under_way and not _target_held(step):
        pass
    elif plan.aborted:
        _abort(step)
    elif problems:
        _refuse(step, problems)
    elif state in ("Pending", "Blocked"):
        _start(step)
    else:
        _go_on(step)
    requests.proceed(step)
    return step.finish()


def _held_back(step: Step, state: State) -> None:
    """The operator may no longer read or change the target's kind (its allow-list or RBAC changed
    under way): nothing can be checked, changed or restored, so the plan holds where it is, its
    recorded values kept, and looks again until access is back."""
    step.move(state, "KindNotAllowed", f"{step.target.not_allowed}; the plan holds, its recorded changes kept, "
                                       "until the operator may change the target again", warning=True)
    step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)


def _target_held(step: Step) -> bool:
    """Whether a plan under way still holds its target; if not, the step that deals with it."""
    if not step.target.exists:
        rollback.fail(step, "TargetDeleted", f"{step.what} was deleted while the plan was "
                                             "under way; nothing is left to change or restore")
        return False
    if step.target.lock_holder != step.plan.holder:
        rollback.lock_lost(step)
        return False
    return True


def _go_on(step: Step) -> None:
    if drifted := observation.drift(step):
        _drifted(step, drifted)
    elif _spec_changed(step):
        step.move("Paused", "SpecChanged", "the target, the phases or what needs approval changed after the plan "
                  "started; revert the edit, or abort the plan (the live phase's gates are still checked)",
                  warning=True)
        live = step.live_phase()
        if live is not None and step.phase_status(live)["state"] == "Observing":
            observation.watch(step, live)
        elif live is not None:  # patched, not yet observed: every interval unobserved counts
            observation.unobserved(step, live, "the spec changed before the phase was observed")
    elif step.target.kind.observe_only(step.target.obj):
        _observed_only(step)
    elif step.status.get("state") == "Paused":
        _paused(step)
    else:
        _advance(step)


def _observed_only(step: Step) -> None:
    """The platform was switched to observe-only under way: no patch would reach AWS and no window
    would watch a change, so the plan holds, its recorded changes kept, until full management is
    back (then a live phase is observed for a whole window again, see `_paused`)."""
    step.move("Paused", "ObserveOnly", f"{step.what} {step.target.kind.observe_only(step.target.obj)}; this was "
              "so set while the plan was under way: the plan holds, its recorded changes kept, until changes reach "
              "AWS again (then it resumes), or abort the plan", warning=True)
    step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)


def _abort(step: Step) -> None:
    if step.under_way:
        rollback.begin(step, "Aborted", "the abort annotation asks to roll every applied phase back", whole_plan=True)
    else:
        step.move("RolledBack", "Aborted", "aborted before any change")
        rollback.release(step)


def _refuse(step: Step, problems: tuple[str, ...]) -> None:
    """A spec that cannot run: a plan not started fails, naming every field; one under way pauses,
    its recorded changes kept, until the spec is fixed or the plan aborted."""
    message = "invalid spec: " + "; ".join(problems)
    if not step.under_way:
        step.move("Failed", "InvalidSpec", message, warning=True)
        step.status.pop("nextCheckAt", None)
        rollback.release(step)  # taken between the lock and the start
        return
    step.move("Paused", "InvalidSpec", message + "; fix the spec or abort the plan (its rollback needs no spec)",
              warning=True)
    live = step.live_phase()
    if live is None:
        step.status.pop("nextCheckAt", None)
    else:
        observation.unobserved(step, live, "the spec cannot run")


def _spec_changed(step: Step) -> bool:
    recorded = step.status.get("approvalDigest")
    return step.status.get("phasesDigest") != phases_digest(step.valid) or \
        (recorded is not None and recorded != approval_digest(step.valid))


def _drifted(step: Step, drifted: list[str]) -> None:
    """Applied values changed by someone else: hold (and never report success) until they are back.
    The gates are still checked meanwhile: what is still applied is rolled back on a Fail."""
    message = "values the plan applied were changed by someone else: " + "; ".join(drifted)
    step.condition("Drift", "True", "ChangedBySomeoneElse", message)
    if step.verdict is not None and step.verdict.verdict == "Fail":
        rollback.begin(step, "GateFailed", f"{evidence.summary(step.verdict)} (while drifted: {message})")
        return
    step.move("Paused", "Drift", message + "; put them back, or abort the plan", warning=True)
    interval = step.valid.gates.interval
    step.status["nextCheckAt"] = step.at(min(step.poll, interval) if step.verdict is None else interval)


def _start(step: Step) -> None:
    spec = step.valid
    if spec.dry_run:
        _dry_run(step)
    elif step.target.not_allowed:
        _block(step, "KindNotAllowed", f"{step.target.not_allowed}; this plan waits, nothing read or changed")
    elif not step.target.exists:
        _block(step, "TargetNotFound", f"{step.what} does not exist")
    elif step.target.untouchable:
        _block(step, "TargetUntouchable", f"{step.what} {step.target.untouchable}; "
                                          "this plan waits, nothing taken or changed")
    elif observe_only := step.target.kind.observe_only(step.target.obj):
        _block(step, "ObserveOnly", f"{step.what} {observe_only}")
    elif step.target.lock_holder not in (None, step.plan.holder):
        _block(step, "TargetLocked", f"{step.what} is being changed by plan "
                                     f"{step.target.lock_holder}; this plan waits until it finishes")
    elif _unappliable(step) or not _preflight(step) or not _backtest(step):
        return
    elif step.target.lock_holder is None:
        step.action, step.again = Action("lock"), True
        step.status["nextCheckAt"] = step.at(0)
    else:
        step.status.update({"lock": {"target": spec.target, "kind": spec.target_ref.key, "holder": step.plan.holder},
                            "phasesDigest": phases_digest(spec), "approvalDigest": approval_digest(spec),
                            "currentPhase": 0, "startedAt": timestamp(step.now), "settings": settings(spec),
                            "phases": [{"name": p.name, "state": "Pending"} for p in spec.phases]})
        step.move("Progressing", "Started", f"took {step.what}; measuring the baseline")
        step.again = True


def _unappliable(step: Step) -> bool:
    """True when a phase cannot apply to the target as it is now (its parameters would be refused,
    or AWS would not make the change as one phase): the plan fails before it takes the target,
    naming every such phase; nothing is patched."""
    obj, problems = step.target.obj, []
    for phase in step.valid.phases:
        applied = _apply(step.target.kind, obj, phase, plan_status.attempt(step.status) > 1)
        if applied.problem:
            problems.append(f"phase {phase.name} cannot apply: {applied.problem}")
        else:
            obj = applied.after
    if not problems:
        return False
    step.move("Failed", "InvalidChange", evidence.clip("; ".join(problems) + "; nothing was changed",
                                                       evidence.SUMMARY_LIMIT), warning=True)
    step.status.pop("nextCheckAt", None)
    return True


def _backtest(step: Step) -> bool:
    """True when the plan may take its target as far as the replay of its gates on history goes:
    no backtest asked, a rate within maxFalseRollbackRate, or one above it with onExceed: Warn.
    Above it with Block, the plan is Blocked before any change (until its gates are edited)."""
    policy, spec = step.valid.gates.backtest, step.valid
    if policy is None:
        return True
    if _backtest_due(spec, step.status):
        found = step.backtest
        if found is None:  # the caller replays first (see `needs`)
            step.status["nextCheckAt"] = step.at(0)
            step.again = True
            return False
        if found.unanswered:
            message = f"waiting for Prometheus to answer the history the backtest replays: {found.unanswered}"
            step.condition("Backtest", "Unknown", "HistoryUnanswered", message)
            step.move("Pending", "BacktestUnanswered", message, warning=True)
            step.status["nextCheckAt"] = step.at(min(spec.gates.interval, BLOCKED_RETRY_SECONDS))
            return False
        step.status["backtest"] = {**found.record, "gatesDigest": gates_digest(spec), "ranAt": timestamp(step.now)}
    recorded = step.status["backtest"]
    rate = recorded.get("falseRollbackRate")
    message = _backtest_message(recorded, policy.max_false_rollback_rate)
    if rate is not None and rate <= policy.max_false_rollback_rate:
        step.condition("Backtest", "True", "WithinPolicy", message)
        return True
    old = next((c for c in step.status.get("conditions", []) if c["type"] == "Backtest"), None)
    # no judged start: nothing was exceeded, and nothing shows the gates are safe either
    reason, condition = ("BacktestUnjudged", "Unjudged") if rate is None else \
        ("BacktestExceeded", "FalseRollbackRateExceeded")
    step.condition("Backtest", "False", condition, message)
    if policy.on_exceed == "Warn":
        if old is None or old["status"] != "False" or old.get("reason") != condition:
            step.events.append(Event("Warning", reason, message + "; starting anyway (onExceed: Warn)"))
        return True
    _block(step, reason, message + "; nothing is changed (onExceed: Block)")
    return False


def _backtest_message(recorded: dict[str, Any], bound: float) -> str:
    rate, (low, high) = recorded.get("falseRollbackRate"), recorded.get("interval95", [0.0, 1.0])
    covered = f"replayed {recorded.get('coveredDays', 0):g} of {recorded.get('askedDays', 0):g} days of history"
    if rate is None:
        return (f"{covered}: no start could be judged ({recorded.get('reason', 'no history')}), so the history "
                f"shows nothing of the gates' false-rollback rate against spec.gates.backtest.maxFalseRollbackRate "
                f"{bound:g}")
    worst = recorded.get("worst") or {}
    most = f"; most often {worst['metric']}{worst.get('series', '')} ({worst.get('starts', 0)} starts), " \
           f"e.g. at {worst.get('at')}: {worst.get('message', '')}" if worst.get("metric") else ""
    above = "above" if rate > bound else "within"
    return (f"{covered}: the gates would have rolled back {rate:.1%} of {recorded.get('starts', 0)} harmless "
            f"starts (95 % interval {low:.1%} to {high:.1%}, {recorded.get('independentWindows', 0)} independent "
            f"windows), {above} spec.gates.backtest.maxFalseRollbackRate {bound:g}{most}")


def _block(step: Step, reason: str, message: str) -> None:
    step.move("Blocked", reason, message, warning=True)
    step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)


def _dry_run(step: Step) -> None:
    """Record, phase by phase, the patch the plan would make; touch nothing."""
    obj, kind = step.target.obj, step.target.kind
    step.status["phases"] = []
    size = 0
    for phase in step.valid.phases:
        applied = _apply(kind, obj, phase)
        problems, ops = applied.problem, []
        if not problems:
            ops = [op for path, value in applied.changes.items()
                   for op in kind.patch_ops(obj, path, kind.get(obj, path), value)]
        size += len(json.dumps(ops, separators=(",", ":"), default=str))
        if not problems and size > evidence.MAX_RECORDED_BYTES:
            problems = (f"the patches would record {size} bytes of previous values in status; at most "
                        f"{evidence.MAX_RECORDED_BYTES} (split the plan)")
        record: PhaseRecord = {"name": phase.name, "state": "WouldPatch" if not problems else "Invalid"}
        if problems:
            record["message"] = evidence.clip(problems, evidence.SUMMARY_LIMIT)
        else:
            record["wouldPatch"] = ops
            record["oneWayDoors"] = evidence.doors(kind.doors(obj, applied.after, applied.changes))
            obj = applied.after
        step.status["phases"].append(record)
    invalid = [p["name"] for p in step.status["phases"] if p["state"] == "Invalid"]
    if invalid:
        step.move("Failed", "DryRunInvalid", f"dry run: phases {', '.join(invalid)} cannot apply", warning=True)
    else:
        step.move("Succeeded", "DryRun", f"dry run: recorded the patches of {len(step.valid.phases)} phases; "
                                         "nothing was changed")


# -- the phases ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Applied:
    """A phase applied to the target as read: the object after it, the values it sets by path (as
    the API server stores them), or why it cannot apply."""

    after: dict[str, Any]
    changes: dict[str, Any]
    problem: str = ""


def _apply(kind: TargetKind, obj: dict[str, Any], phase: Phase, retried: bool = False) -> _Applied:
    """The phase applied to the target `obj` (see `_Applied`). On a retry, removing what is already
    absent is no refusal: a phase the attempt before kept applied removed it."""
    after, changes = obj, {}
    try:
        for change in phase.changes:
            if retried and change.value is pointer.ABSENT and kind.get(after, change.path) is pointer.ABSENT:
                continue
            changes[change.path] = kind.stored(change.path, change.value)
            after = kind.put(after, change.path, changes[change.path])
    except pointer.PointerError as error:
        return _Applied(obj, {}, str(error))
    return _Applied(after, changes, "; ".join(kind.problems(obj, after, changes)))


def _advance(step: Step) -> None:
    if "baseline" not in step.status and not _capture_baseline(step):
        return
    index = step.status["currentPhase"]
    handler = {"Pending": _phase_pending, "AwaitingApproval": _phase_pending, "Applying": _phase_applying,
               "Applied": _phase_applied, "Observing": observation.observe}
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
        observation.gates_condition(step, "False", "QueryRejected", message)
        step.move("Failed", "InvalidQuery", message, warning=True)
        step.status.pop("nextCheckAt", None)
        return False
    if found.unanswered:
        message = evidence.clip("waiting for every gate query to answer once; nothing is changed until then: "
                                + "; ".join(found.unanswered), evidence.SUMMARY_LIMIT)
        observation.gates_condition(step, "False", "PreflightUnanswered", message)
        step.move("Pending", "PreflightUnanswered", message, warning=True)
        step.status["nextCheckAt"] = step.at(min(step.valid.gates.interval, BLOCKED_RETRY_SECONDS))
        return False
    step.status["preflightAt"] = step.status["gatesAnsweredAt"] = timestamp(step.now)
    step.status["gateQueries"] = {m.name: evidence.clip(m.query, evidence.QUERY_LIMIT)
                                  for m in step.valid.gates.metrics}
    observation.gates_condition(step, "True", "PreflightAnswered", "every gate query answered once")
    return True


def _capture_baseline(step: Step) -> bool:
    """Keep the baseline measured before any change; True once every relative bound has one.

    A metric with `maxIncreaseOverBaseline` and no baseline could never pass, so the plan waits
    for one (Prometheus down, no traffic yet, too little traffic in the window) instead of starting
    a change it cannot judge. The baseline is capped (see `evidence`)."""
    if step.baseline is None:
        return False  # the caller measures it first (see `needs`)
    measured = step.baseline
    missing = {m.name: measured.missing.get(m.name, "no data") for m in step.valid.gates.metrics
               if m.max_increase_over_baseline is not None and not measured.values.get(m.name)}
    if missing:
        attempts = step.status.get("baselineAttempts", 0) + 1
        step.status.update({"baselineAttempts": attempts, "nextCheckAt": step.at(step.valid.gates.interval)})
        why = "; ".join(f"{name}: {reason}" for name, reason in missing.items())
        message = evidence.clip(f"no baseline yet (attempt {attempts}): {why}; nothing is changed until there is "
                                "one", evidence.SUMMARY_LIMIT)
        step.move("Progressing", "BaselineUnavailable", message)
        if attempts == step.valid.gates.inconclusive_limit:
            step.events.append(Event("Warning", "BaselineUnavailable", message))
        return False
    step.status.pop("baselineAttempts", None)
    cap = evidence.baseline_cap(len(step.valid.gates.metrics))
    kept: dict[str, Any] = {}
    overflow: dict[str, Any] = {}
    for name, values in measured.values.items():
        kept[name], left = capped(values, cap)
        if left:
            overflow[name] = left
    step.status.update({"baseline": kept, "baselineAt": timestamp(step.now)})
    if overflow:
        step.status["baselineOverflow"] = overflow
    counts = ", ".join(f"{name}: {len(values)} series" for name, values in measured.values.items())
    step.events.append(Event("Normal", "BaselineCaptured", f"baseline before any change: {counts or 'no metric'}"))
    return True


def _phase_pending(step: Step, index: int) -> None:
    phase, record = step.valid.phases[index], step.phase_status(index)
    if step.valid.suspend or step.valid.dry_run:
        why = "spec.suspend is true" if step.valid.suspend else "spec.dryRun was set after the plan started"
        _pause(step, "Suspended", f"{why}; the plan waits before its next phase (phases already applied stay; "
                                  "abort rolls them back)")
        return
    kind, obj = step.target.kind, step.target.obj
    applied = _apply(kind, obj, phase, plan_status.attempt(step.status) > 1)
    changes = [_recorded(c.path, kind.get(obj, c.path), kind.stored(c.path, c.value)) for c in phase.changes]
    problem = applied.problem or _record_too_large(step, changes)
    if problem:
        rollback.begin(step, "InvalidChange", f"phase {phase.name} cannot apply: {problem}")
        return
    one_way = evidence.doors(kind.doors(obj, applied.after, applied.changes))
    if _needs_approval(step, phase, one_way):
        record.update({"state": "AwaitingApproval", "oneWayDoors": one_way})
        why = "it is marked requiresApproval" if phase.requires_approval else "; ".join(one_way)
        approve = ",".join(sorted(step.plan.approved_phases | {phase.name}))
        step.move("AwaitingApproval", "AwaitingApproval",
                  f"phase {phase.name} waits for approval: `kubectl optplan approve {step.plan.name} {phase.name} "
                  f"-n {step.plan.namespace}`, or `kubectl annotate optplan {step.plan.name} -n {step.plan.namespace} "
                  f"--overwrite optimization.tap.io/approve={approve}` (a comma-separated list of approved "
                  f"phases): {why}")
        step.status["nextCheckAt"] = step.at(BLOCKED_RETRY_SECONDS)  # annotations also wake it at once
        return
    if not _gates_fresh(step, index):
        return
    if phase.name in step.plan.approved_phases:
        record.update({"approvedAt": timestamp(step.now), "approvedBy": "annotation"})
    elif one_way:
        record.update({"approvedAt": timestamp(step.now), "approvedBy": "spec.approveIrreversible"})
    record.update({"state": "Applying", "startedAt": timestamp(step.now), "oneWayDoors": one_way, "changes": changes})
    step.move("Progressing", "Recorded", f"phase {phase.name}: recorded the previous value of "
                                         f"{len(phase.changes)} parameters; patching")
    step.again = True


def _gates_fresh(step: Step, index: int) -> bool:
    """Whether the gates answered within the last interval; else (a wait for approval, a resume)
    they are asked again before the phase changes anything, and a plan that has changed nothing yet
    takes its baseline again. A query now rejected ends the plan; no answer keeps it waiting."""
    interval = step.valid.gates.interval
    if _answered_since(step.status, step.now, interval):
        return True
    found, name = step.preflight, step.valid.phases[index].name
    if found is None:
        step.status["nextCheckAt"] = step.at(0)  # the caller asks (see `needs`)
        return False
    if found.rejected:
        rollback.begin(step, "InvalidQuery", f"phase {name}: a gate query is now rejected: "
                       + "; ".join(found.rejected))
        return False
    if found.unanswered:
        message = f"phase {name} waits for every gate query to answer; nothing is changed until then: " + \
            "; ".join(found.unanswered)
        observation.gates_condition(step, "False", "PreflightUnanswered", message)
        step.move(step.status.get("state", "Progressing"), "PreflightUnanswered", message, warning=True)
        step.status["nextCheckAt"] = step.at(min(interval, BLOCKED_RETRY_SECONDS))
        return False
    step.status["gatesAnsweredAt"] = timestamp(step.now)
    if not any(p.get("changes") for p in step.status.get("phases", [])):
        step.status.pop("baseline", None)  # nothing changed yet: the baseline before the change is taken now
        step.status.pop("baselineOverflow", None)
        step.again = True
        return False
    return True


def _record_too_large(step: Step, changes: list[ChangeRecord]) -> str:
    """Why recording these changes would break the status' size budget (see `evidence`), or ''."""
    kept = [p.get("changes", []) for p in step.status.get("phases", [])]
    size = len(json.dumps([*kept, changes], separators=(",", ":"), default=str))
    if size <= evidence.MAX_RECORDED_BYTES:
        return ""
    return (f"recording the previous values would take {size} bytes of status; at most "
            f"{evidence.MAX_RECORDED_BYTES} (split the plan)")


def _needs_approval(step: Step, phase: Phase, one_way: list[str]) -> bool:
    wanted = phase.requires_approval or (bool(one_way) and not step.valid.approve_irreversible)
    return wanted and phase.name not in step.plan.approved_phases


def _recorded(path: str, before: Any, after: Any) -> ChangeRecord:
    """One changed path as kept in status; an absent value is an absent key."""
    entry: ChangeRecord = {"path": path}
    if before is not pointer.ABSENT:
        entry["before"] = before
    if after is not pointer.ABSENT:
        entry["after"] = after
    return entry


def _phase_applying(step: Step, index: int) -> None:
    """Patch, unless the target already holds the phase's values (a crash after the patch)."""
    record, name = step.phase_status(index), step.valid.phases[index].name
    entries = record["changes"]
    if step.holding(entries, "after"):
        record.update({"state": "Applied", "patchedAt": timestamp(step.now),
                       "patchedGeneration": step.target.generation})
        if step.target.written_version:
            record["patchedResourceVersion"] = step.target.written_version
        step.move("Progressing", "Patched", f"phase {name}: {step.what} patched (generation "
                                            f"{step.target.generation}); waiting for it to catch up")
        step.status["nextCheckAt"] = step.at(0)
        step.again = True
    elif step.holding(entries, "before"):
        step.action, step.again = Action("patch", step.patch(entries, "after")), True
    else:
        changed = step.changed_by_others(entries)
        rollback.begin(step, "Conflict", f"phase {name}: someone else changed {', '.join(changed)} "
                                          "since the plan recorded it")


def _phase_applied(step: Step, index: int) -> None:
    record, name = step.phase_status(index), step.valid.phases[index].name
    readiness = step.target.readiness
    if readiness.state == "Refused":
        rollback.begin(step, "ApplyRefused", f"phase {name}: {readiness.message}")
    elif readiness.state == "Ready":
        observation.start(step, index)
    elif parse_time(record["patchedAt"]).timestamp() + step.apply_timeout <= step.now.timestamp():
        rollback.begin(step, "ApplyTimeout", f"phase {name}: not Synced and Ready after "
                                              f"{step.apply_timeout:.0f} s: {readiness.message}")
    else:
        step.status["nextCheckAt"] = step.at(step.poll)


# -- pause and resume ----------------------------------------------------------------------------

def _pause(step: Step, reason: str, message: str) -> None:
    step.move("Paused", reason, message)
    step.status.pop("nextCheckAt", None)


def _paused(step: Step) -> None:
    """Resume when the pause's cause is gone. A phase that was being observed is observed for a
    whole window again (drift, or an edit, made the evidence so far say nothing)."""
    index = step.status["currentPhase"]
    record = step.phase_status(index)
    reason = step.status.get("reason")
    if reason == "GatesInconclusive":
        if step.verdict is not None:
            observation.observe(step, index)
        return
    if reason == "Suspended" and (step.valid.suspend or step.valid.dry_run):
        return
    if reason == "Drift":
        step.condition("Drift", "False", "Restored", "the applied values are back")
    if record["state"] == "Observing":
        record["state"] = "Applied"  # observe the whole window again once readiness is confirmed
    step.move("Progressing", "Resumed", "the plan resumes")
    step.again = True

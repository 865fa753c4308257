"""Rolling back: restore the recorded values one phase at a time, newest first, each confirmed live
(the TapPlatform and the composed resources it changed Synced and Ready) before the one before.

A rollback always ends. Once a plan is RollingBack nothing stops or redirects it: not an edit of
the spec (valid or not), `suspend`, `dryRun`, the annotations, or the plan's deletion (the
finalizer waits for it). It ends RolledBack, or Failed with the reason: a path someone else changed
since (left alone, reported in a Conflict condition), a restore the provider refuses or never
takes, or a target that was deleted or taken by someone else.

Scope (`rollbackScope`): a failed gate, a refusal or a timeout rolls back the failing phase and
keeps earlier phases that passed their windows (`Phase`, the default) or every applied phase
(`Plan`); abort always rolls back every applied phase.
"""

from __future__ import annotations

from tap_optimizer.plan import evidence
from tap_optimizer.plan.model import Action, Event
from tap_optimizer.plan.step import Step, parse_time, timestamp

LIVE = ("Applying", "Applied", "Observing")  # a phase whose change is being applied or observed
TOUCHED = (*LIVE, "Succeeded")


def begin(step: Step, reason: str, message: str, *, whole_plan: bool = False) -> None:
    """Start rolling back: the live phase, or with `whole_plan` (abort, rollbackScope: Plan) every
    applied phase."""
    declared = step.spec.rollback_scope if step.spec is not None else step.recorded("rollbackScope", "Phase")
    scope = "Plan" if whole_plan or declared == "Plan" else "Phase"
    phases = step.status.get("phases", [])
    touched = [p for p in phases if p["state"] in (TOUCHED if scope == "Plan" else LIVE)]
    for record in touched:
        record["state"] = "RollingBack"
    kept = [p["name"] for p in phases if p["state"] == "Succeeded"]
    step.status.update({"rollbackReason": reason, "rollbackScope": scope,
                       "rollbackCause": evidence.clip(message, evidence.SUMMARY_LIMIT)})
    if kept:
        step.status["keptPhases"] = kept
    names = ", ".join(p["name"] for p in reversed(touched)) or "none"
    also = f"; phases {', '.join(kept)} passed their windows and stay" if kept else ""
    step.move("RollingBack", reason, f"{message}; rolling back phases {names}, newest first{also}", warning=True)
    step.again = True


def roll_back(step: Step) -> None:
    """The next step of a rollback: wait for the phase being restored, else restore the newest."""
    if not step.target.exists:
        fail(step, "TargetDeleted", f"{step.what} was deleted during the rollback; the "
                                    "recorded values are in status")
        return
    if step.target.lock_holder != step.plan.holder:
        lock_lost(step)
        return
    phases = step.status.get("phases", [])
    restoring = [i for i, p in enumerate(phases) if p["state"] == "Restoring"]
    pending = [i for i, p in enumerate(phases) if p["state"] == "RollingBack"]
    if restoring:
        _wait_until_live(step, restoring[-1])
    elif pending:
        _restore(step, pending[-1])
    else:
        _rolled_back(step)


def _restore(step: Step, index: int) -> None:
    """Patch the phase's recorded values back; once they are back, wait for them to be live."""
    record = step.phase_status(index)
    entries = record.get("changes", [])
    current = step.current(entries)
    ours = [e for e, value in zip(entries, current, strict=True)
            if step.holds(e, value, "after") and not step.holds(e, value, "before")]
    if ours:
        step.action, step.again = Action("patch", step.patch(ours, "before")), True
        return
    conflicts = step.changed_by_others(entries)
    record.update({"state": "Restoring", "restoredGeneration": step.target.generation,
                   "restoredAt": timestamp(step.now), "conflicts": conflicts})
    if step.target.written_version:
        record["restoredResourceVersion"] = step.target.written_version
    step.again = True


def _wait_until_live(step: Step, index: int) -> None:
    """A restored phase is rolled back once the platform and what it restored are Synced and Ready."""
    record, name = step.phase_status(index), step.phase_status(index)["name"]
    readiness = step.target.readiness
    if readiness.state == "Ready":
        entries = record.get("changes", [])
        changed = [e["path"] for e, value in zip(entries, step.current(entries), strict=True)
                   if not step.holds(e, value, "before")]
        conflicts = sorted({*record.get("conflicts", []), *changed})  # changed by someone else while restoring
        record.update({"state": "RolledBack", "conflicts": conflicts, "rolledBackAt": timestamp(step.now)})
        record.pop("waitingFor", None)
        recreated = record.get("oneWayDoors", [])
        detail = f"; re-created what it removed ({'; '.join(recreated)})" if recreated else ""
        conflicts = record.get("conflicts", [])
        left = f"; left {', '.join(conflicts)} alone: changed by someone else" if conflicts else ""
        step.events.append(Event("Warning" if conflicts else "Normal", "PhaseRolledBack",
                                 f"phase {name}: restored the recorded values, live again{detail}{left}"))
        step.again = True
    elif readiness.state == "Refused":
        _restore_failed(step, f"phase {name}: the restored values were refused: {readiness.message}")
    elif parse_time(record["restoredAt"]).timestamp() + step.apply_timeout <= step.now.timestamp():
        _restore_failed(step, f"phase {name}: not Synced and Ready {step.apply_timeout:.0f} s after the restore: "
                              f"{readiness.message}")
    else:
        record["waitingFor"] = readiness.message
        step.status["nextCheckAt"] = step.at(step.poll)


def _restore_failed(step: Step, message: str) -> None:
    step.condition("Restored", "False", "RestoreNotReady", message)
    fail(step, "RestoreNotReady", f"{message}; the recorded values are in place, the platform needs a look")


def lock_lost(step: Step) -> None:
    """The lock annotation is gone: take it again before any write. Another plan holds it: never two
    plans acting on one target, so this one stops, saying who holds it and what it leaves applied."""
    holder = step.target.lock_holder
    if holder is None:
        step.action, step.again = Action("lock"), True
        step.events.append(Event("Warning", "LockRetaken", f"the lock annotation on {step.what} "
                                                           "was removed; taking it again"))
        return
    applied = [p["name"] for p in step.status.get("phases", []) if p["state"] not in ("Pending", "RolledBack")]
    message = (f"{step.what} is now locked by {holder}; this plan stops without touching it; "
               f"phases {', '.join(applied) or 'none'} keep the values recorded in status")
    step.condition("LockLost", "True", "TakenBySomeoneElse", message)
    fail(step, "LockLost", message)


def fail(step: Step, reason: str, message: str) -> None:
    """End the plan Failed, releasing the target if it still holds it."""
    step.move("Failed", reason, message, warning=True)
    step.status.pop("nextCheckAt", None)
    release(step)


def _rolled_back(step: Step) -> None:
    phases = step.status.get("phases", [])
    conflicts = {p["name"]: p["conflicts"] for p in phases if p.get("conflicts")}
    reason = step.status.get("rollbackReason", "RolledBack")
    restored = [p["name"] for p in phases if p["state"] == "RolledBack"]
    kept = step.status.get("keptPhases", [])
    stays = f"; phases {', '.join(kept)} stay applied" if kept else ""
    if conflicts:
        message = "; ".join(f"phase {n}: {', '.join(paths)}" for n, paths in conflicts.items())
        step.condition("Conflict", "True", "ChangedBySomeoneElse",
                       f"not restored, changed by someone else since the plan patched them: {message}")
        fail(step, reason, f"rolled back, except paths changed by someone else: {message}{stays}")
        return
    why = step.status.get("rollbackCause", "")
    if not restored:
        fail(step, reason, f"{why}; nothing was applied to restore{stays}")
        return
    step.move("RolledBack", reason, f"restored phases {', '.join(restored) or 'none'}{stays} ({why})", warning=True)
    step.status.pop("nextCheckAt", None)
    release(step)


def release(step: Step) -> None:
    if step.target.exists and step.target.lock_holder == step.plan.holder:
        step.action = Action("unlock")

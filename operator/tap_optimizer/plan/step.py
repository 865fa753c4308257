"""The working state of one step of the state machine, and the helpers every part of it shares:
times, conditions, the values at a phase's paths, and the settings a rollback needs even when the
plan's spec has since become invalid (they are recorded in status when the plan starts)."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from typing import Any, Literal, cast

from tap_optimizer.plan import evidence
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
from tap_optimizer.plan.spec import PlanSpec
from tap_optimizer.plan.status import ChangeRecord, ConditionStatus, PhaseRecord, PlanStatus, Settings
from tap_optimizer.platform import pointer

READINESS_POLL_SECONDS = 10.0
BLOCKED_RETRY_SECONDS = 30.0  # how often a blocked or waiting plan looks again without an event
DEFAULT_APPLY_TIMEOUT = 1800.0  # the CRD's default applyTimeout, for plans that recorded none
READY: dict[str, ConditionStatus] = {"Succeeded": "True", "RolledBack": "False", "Failed": "False"}
Side = Literal["before", "after"]
UNDER_WAY = frozenset({"Progressing", "Observing", "AwaitingApproval", "Paused", "RollingBack"})


def timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def phases_digest(spec: PlanSpec) -> str:
    """A fingerprint of the target and phases, to notice edits after the plan started."""
    body = json.dumps([spec.target, [[p.name, [[c.op, c.path, repr(c.value)] for c in p.changes]]
                                     for p in spec.phases]], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def gates_digest(spec: PlanSpec) -> str:
    """A fingerprint of the gates a backtest replayed: an edit of them asks for a new replay."""
    return hashlib.sha256(repr(spec.gates).encode()).hexdigest()[:16]


def approval_digest(spec: PlanSpec) -> str:
    """A fingerprint of what needs a person's approval: lifting it after the start is a spec change."""
    body = json.dumps([spec.approve_irreversible, [p.requires_approval for p in spec.phases]])
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def settings(spec: PlanSpec) -> Settings:
    """What the plan needs from its spec when the spec can no longer run, recorded when it starts:
    a rollback's timeouts, and how often and how long an unobserved live phase may wait."""
    gates = spec.gates
    return {"applyTimeoutSeconds": spec.apply_timeout, "pollSeconds": min(READINESS_POLL_SECONDS, gates.interval),
            "intervalSeconds": gates.interval, "inconclusiveLimit": gates.inconclusive_limit,
            "rollbackScope": spec.rollback_scope}


class Step:
    """Working state of one step; the public entry point is `machine.decide`.

    `spec` is None when the plan's spec cannot run (an invalid edit): only a rollback proceeds then,
    from what status recorded."""

    def __init__(self, plan: PlanRef, spec: PlanSpec | None, status: PlanStatus, target: Target,
                 now: dt.datetime, verdict: GateVerdict | None = None, baseline: Baseline | None = None,
                 preflight: Preflight | None = None, backtest: BacktestSummary | None = None):
        self.plan, self.spec, self.target, self.now = plan, spec, target, now
        self.verdict, self.baseline, self.preflight, self.backtest = verdict, baseline, preflight, backtest
        self.status: PlanStatus = copy.deepcopy(status) or {}
        self.events: list[Event] = []
        self.action: Action | None = None
        self.again = False

    @property
    def valid(self) -> PlanSpec:
        """The spec, in the parts of the machine that run only with a valid one."""
        assert self.spec is not None, "only a rollback runs without a valid spec"
        return self.spec

    @property
    def under_way(self) -> bool:
        return self.status.get("state") in UNDER_WAY

    @property
    def apply_timeout(self) -> float:
        """The spec's, except in a rollback, which runs on what status recorded at the start."""
        pinned = self._pinned("applyTimeoutSeconds")
        if pinned is not None:
            return pinned
        return self.spec.apply_timeout if self.spec is not None else DEFAULT_APPLY_TIMEOUT

    @property
    def poll(self) -> float:
        pinned = self._pinned("pollSeconds")
        if pinned is not None:
            return pinned
        if self.spec is None:
            return READINESS_POLL_SECONDS
        return min(READINESS_POLL_SECONDS, self.spec.gates.interval)

    def _pinned(self, key: str) -> float | None:
        """A setting recorded at the start, where it rules: without a valid spec, or in a rollback
        (an edit made during it must not change it)."""
        value = self.recorded(key, None)
        if value is None or (self.spec is not None and self.status.get("state") != "RollingBack"):
            return None
        return float(value)

    @property
    def interval(self) -> float:
        return self.spec.gates.interval if self.spec is not None else float(self.recorded("intervalSeconds", 60.0))

    def recorded(self, key: str, default: Any) -> Any:
        return cast(dict[str, Any], self.status.get("settings", {})).get(key, default)

    def due(self) -> bool:
        next_check = self.status.get("nextCheckAt")
        return next_check is None or parse_time(next_check) <= self.now

    def live_phase(self) -> int | None:
        """The index of the phase whose change is (or may be: being patched) live, if any."""
        phases = self.status.get("phases", [])
        index = self.status.get("currentPhase", 0)
        live = ("Applying", "Applied", "Observing")
        return index if index < len(phases) and phases[index]["state"] in live else None

    @property
    def target_name(self) -> str:
        return self.spec.target if self.spec is not None else self.status.get("lock", {}).get("target", "?")

    @property
    def what(self) -> str:
        """The target as messages name it: `TapPlatform shop`, `DBInstance orders`."""
        return f"{self.target.kind.kind} {self.target_name}"

    def at(self, seconds: float) -> str:
        return timestamp(self.now + dt.timedelta(seconds=seconds))

    def phase_status(self, index: int) -> PhaseRecord:
        return self.status["phases"][index]

    def current(self, entries: list[ChangeRecord]) -> list[Any]:
        """The target's values now at the paths of recorded changes."""
        return [self.target.kind.get(self.target.obj, e["path"]) for e in entries]

    def holds(self, entry: ChangeRecord, value: Any, side: Side) -> bool:
        """Whether `value`, read at the entry's path, is its `side` value (as the target's kind
        compares: ACK and upjet may add fields AWS fills in to a value we set)."""
        return self.target.kind.holds(value, entry.get(side, pointer.ABSENT))

    def holding(self, entries: list[ChangeRecord], side: Side) -> bool:
        """Whether the target holds every entry's `side` value now."""
        return all(self.holds(e, v, side) for e, v in zip(entries, self.current(entries), strict=True))

    def changed_by_others(self, entries: list[ChangeRecord]) -> list[str]:
        """The paths that hold neither their value before nor after: changed by someone else."""
        return [e["path"] for e, v in zip(entries, self.current(entries), strict=True)
                if not self.holds(e, v, "before") and not self.holds(e, v, "after")]

    def patch(self, entries: list[ChangeRecord], side: Side) -> tuple[dict[str, Any], ...]:
        """The JSON-patch operations that set each entry's path to its `side` value, from the value
        read now, and only if the target still holds that value (see the kind's `patch_ops`)."""
        kind, obj = self.target.kind, self.target.obj
        return tuple(op for e, v in zip(entries, self.current(entries), strict=True)
                     for op in kind.patch_ops(obj, e["path"], v, e.get(side, pointer.ABSENT)))

    def move(self, state: State, reason: str, message: str, warning: bool = False, event: bool = True) -> None:
        """Enter a plan state, with its Ready and Completed conditions and (unless another Event says
        it) an Event saying why. The message is clipped (see `evidence`): it may quote values and errors of any size."""
        message = evidence.clip(message, evidence.SUMMARY_LIMIT)
        if event and (self.status.get("state") != state or self.status.get("reason") != reason):
            self.events.append(Event("Warning" if warning else "Normal", reason, message))
        self.status.update({"state": state, "reason": reason, "message": message})
        self.condition("Ready", READY.get(state, "Unknown"), reason, message)
        ended = outcome(state, reason)
        self.condition("Completed", "True" if ended else "False", ended or state, message)

    def mark_ended(self) -> None:
        """Give a plan that ended before the Completed condition existed that condition (the
        operator steps every plan once when it starts), so `kubectl wait` ends for it too; and
        its conditions the generation of a spec edited after the end: `kubectl wait` takes a
        condition set for an older generation as not met, and waited until its timeout."""
        if not any(c["type"] == "Completed" for c in self.status.get("conditions", [])):
            state, reason = self.status.get("state", ""), self.status.get("reason", "")
            self.condition("Completed", "True", outcome(state, reason) or state, self.status.get("message", ""))
        for old in self.status.get("conditions", []):
            if old.get("observedGeneration") != self.plan.generation:
                self.condition(old["type"], old["status"], old["reason"], old["message"])

    def condition(self, kind: str, value: ConditionStatus, reason: str, message: str) -> None:
        set_condition(self.status, kind, value, reason, evidence.clip(message, evidence.SUMMARY_LIMIT), self.now,
                      self.plan.generation)

    def finish(self) -> Decision:
        phases = self.status.get("phases", [])
        if phases:
            done = sum(p["state"] in ("Succeeded", "WouldPatch") for p in phases)
            self.status["progress"] = f"{done}/{len(phases)}"
        if self.spec is not None:
            self.status["projectedMonthlySavings"] = evidence.money(
                sum(p.projected_monthly_savings for p in self.spec.phases))
        self.status["observedGeneration"] = self.plan.generation
        return Decision(self.status, self.action, tuple(self.events), self.again)


def outcome(state: str, reason: str) -> str | None:
    """How a plan in `state` (entered for `reason`) ended, Succeeded, RolledBack, Failed or Aborted: the reason of its
    Completed condition; None while it is under way. An abort that restored every phase is Aborted;
    one that could not (a conflict) is Failed, like any plan that ended without its values back."""
    if state == "RolledBack" and reason == "Aborted":
        return "Aborted"
    return state if state in TERMINAL else None


def set_condition(status: PlanStatus, kind: str, value: ConditionStatus, reason: str, message: str,
                  now: dt.datetime, generation: int) -> None:
    """Set one condition for the spec's `generation`, keeping its transition time when its status
    does not change."""
    conditions = [c for c in status.get("conditions", []) if c["type"] != kind]
    old = next((c for c in status.get("conditions", []) if c["type"] == kind), None)
    since = old["lastTransitionTime"] if old and old["status"] == value else timestamp(now)
    conditions.append({"type": kind, "status": value, "reason": reason, "message": message,
                       "lastTransitionTime": since, "observedGeneration": generation})
    status["conditions"] = sorted(conditions, key=lambda c: c["type"])

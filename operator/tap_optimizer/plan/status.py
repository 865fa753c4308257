"""The OptimizationPlan's status: its shape, and the readers everything outside the machine uses.

The status is the plan's whole memory (every wait a timestamp, every recorded value, the lock),
written only by the state machine (plan/machine.py, step.py, observation.py, rollback.py) and read
by the operator's edges (handlers), its metrics, the dashboard and the demo's progress lines. The
TypedDicts below are its shape, key by key, so the type checker (`make lint`) checks every key the
machine reads or writes; the JSON is exactly what the machine writes, nothing added. Every key is
optional: a status is built up step by step, and a person may have edited it.

The readers take any mapping (a plan body's `status` as the API server returns it, or None) and
tolerate missing fields, so the code outside plan/ never indexes raw keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

from tap_optimizer.plan.model import TERMINAL, State

PhaseState = Literal["Pending", "AwaitingApproval", "Applying", "Applied", "Observing", "Succeeded", "RollingBack",
                     "Restoring", "RolledBack", "WouldPatch", "Invalid"]
Verdict = Literal["Pass", "Fail", "Inconclusive"]
ConditionStatus = Literal["True", "False", "Unknown"]
# Every `interval` of a check: [time to the second, verdict, worst metric and series, value, bound].
CompactCheck = list[Any]


class ChangeRecord(TypedDict, total=False):
    """One changed path as recorded before the patch; an absent value is an absent key."""

    path: str
    before: Any
    after: Any


class CheckCounts(TypedDict):
    Pass: int
    Fail: int
    Inconclusive: int


class Evidence(TypedDict):
    """Observation time earned by conclusive passing checks, against the window required."""

    requiredSeconds: float
    conclusiveSeconds: float
    checks: CheckCounts


class MetricDetail(TypedDict, total=False):
    """One metric at one check, in the detail kept for the last few checks (no None values)."""

    name: str
    verdict: Verdict
    value: float
    bound: float
    cause: str
    message: str


class GateDetail(TypedDict):
    """One check with every metric (see `evidence.detail`)."""

    time: str
    verdict: Verdict
    metrics: list[MetricDetail]


class PhaseRecord(TypedDict, total=False):
    """One phase, from Pending to Succeeded or RolledBack (a dry run: WouldPatch or Invalid)."""

    name: str
    state: PhaseState
    message: str                    # a dry run's Invalid phase: why
    wouldPatch: list[dict[str, Any]]  # a dry run's JSON-patch operations
    oneWayDoors: list[str]
    approvedAt: str
    approvedBy: str
    startedAt: str
    changes: list[ChangeRecord]
    patchedAt: str
    patchedResourceVersion: str
    patchedGeneration: int
    appliedAt: str
    observeUntil: str
    lastCheckAt: str
    inconclusiveInARow: int
    passedBefore: bool
    evidence: Evidence
    checks: list[CompactCheck]
    checksDropped: int
    gates: list[GateDetail]
    succeededAt: str
    restoredAt: str
    restoredResourceVersion: str
    rolledBackAt: str
    restoredGeneration: int
    conflicts: list[str]
    waitingFor: str
    acceptedBy: str                 # proceed: who accepted the phase's inconclusive hold, and when
    acceptedAt: str
    acceptedHold: str               # the hold they accepted (the GatesConclusive message)


class Condition(TypedDict):
    """One condition, in the shape of metav1.Condition; `observedGeneration` is the plan's
    metadata.generation when it was set. Completed is True once the plan ended (reason Succeeded,
    RolledBack, Failed or Aborted), Ready once it succeeded."""

    type: str
    status: ConditionStatus
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


class Lock(TypedDict):
    """The target this plan took, and the lock annotation's value it put there."""

    target: str
    kind: NotRequired[str]  # Kind.group; plans that started before other kinds record none (a TapPlatform)
    holder: str


class Settings(TypedDict, total=False):
    """What a rollback and an unobserved live phase need when the spec can no longer run."""

    applyTimeoutSeconds: float
    pollSeconds: float
    intervalSeconds: float
    inconclusiveLimit: int
    rollbackScope: str


class Attempt(TypedDict, total=False):
    """How an earlier attempt of a retried plan ended."""

    attempt: int
    state: str
    reason: str
    message: str


class Overflow(TypedDict):
    """Baseline series left out (see `gates.evaluate.capped`): how many, and their smallest value."""

    series: int
    min: float


class PlanStatus(TypedDict, total=False):
    """The whole status, as the machine writes it."""

    state: State
    reason: str
    message: str
    conditions: list[Condition]
    progress: str                   # phases done, "x/y"
    projectedMonthlySavings: float
    observedGeneration: int
    nextCheckAt: str
    currentPhase: int
    phases: list[PhaseRecord]
    lock: Lock
    phasesDigest: str
    approvalDigest: str
    startedAt: str
    settings: Settings
    preflightAt: str
    gatesAnsweredAt: str
    gateQueries: dict[str, str]
    backtest: dict[str, Any]  # the replay's summary (gates/backtest.py), its gatesDigest and ranAt
    baseline: dict[str, dict[str, float]]
    baselineAt: str
    baselineOverflow: dict[str, Overflow]
    baselineAttempts: int
    rollbackReason: str
    rollbackScope: str
    rollbackCause: str
    keptPhases: list[str]
    attempt: int                    # 1 until a retry starts the plan again (plan/requests.py)
    attempts: list[Attempt]         # how the earlier attempts ended, newest last
    retriedBy: str
    retriedAt: str
    requests: dict[str, str]        # the retry and proceed annotations' values already answered


def of(raw: Mapping[str, Any] | None) -> PlanStatus:
    """A status as read from a plan body (None: none written yet), without kopf's own key."""
    return cast(PlanStatus, {k: v for k, v in (raw or {}).items() if k != "kopf"})


def state(status: Mapping[str, Any] | None) -> str | None:
    """The plan's state, None before the operator wrote any."""
    return (status or {}).get("state")


def next_check_at(status: Mapping[str, Any] | None) -> str | None:
    """When the plan wants its next step (RFC 3339), if it waits for a time."""
    return (status or {}).get("nextCheckAt")


def phases(status: Mapping[str, Any] | None) -> list[PhaseRecord]:
    return list((status or {}).get("phases") or [])


def phases_in(status: Mapping[str, Any] | None, *states: str) -> list[PhaseRecord]:
    """The phases in one of `states`, in plan order."""
    return [p for p in phases(status) if p.get("state") in states]


def current_phase(status: Mapping[str, Any] | None) -> PhaseRecord | None:
    """The phase the plan is at (`currentPhase`), if the status has it."""
    records, index = phases(status), (status or {}).get("currentPhase", 0)
    return records[index] if index < len(records) else None


def waiting_to_be_live(status: Mapping[str, Any] | None) -> PhaseRecord | None:
    """The phase whose target must catch up before the plan goes on: patched and waiting to be live
    (`Applied`), or restored and waiting to be live again (`Restoring`); the first one."""
    return next(iter(phases_in(status, "Applied", "Restoring")), None)


TAPPLATFORM_KIND = "TapPlatform.platform.tap.io"


def lock_target(status: Mapping[str, Any] | None) -> str | None:
    """The TapPlatform the plan recorded taking, if it took one."""
    return ((status or {}).get("lock") or {}).get("target")


def claims(status: Mapping[str, Any] | None, target: str, kind: str = TAPPLATFORM_KIND) -> bool:
    """Whether the plan is under way on `target` of `kind` (Kind.group) by its own record (the lock
    when the annotation is gone)."""
    recorded = ((status or {}).get("lock") or {}).get("kind", TAPPLATFORM_KIND)
    return lock_target(status) == target and recorded == kind and \
        state(status) not in (*TERMINAL, None, "Pending", "Blocked")


def attempt(status: Mapping[str, Any] | None) -> int:
    """The plan's attempt: 1 until a retry starts it again."""
    return int((status or {}).get("attempt") or 1)


def conditions(status: Mapping[str, Any] | None) -> list[Condition]:
    return list((status or {}).get("conditions") or [])


def condition(status: Mapping[str, Any] | None, kind: str) -> Condition | None:
    """The condition of type `kind`, if set."""
    return next((c for c in conditions(status) if c.get("type") == kind), None)

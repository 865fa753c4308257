"""What the state machine reads and returns: the target as observed, gate verdicts, decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tap_optimizer.plan.status import PlanStatus
    from tap_optimizer.targets.kinds import TargetKind

State = Literal["Pending", "Progressing", "Observing", "AwaitingApproval", "Paused", "RollingBack",
                "RolledBack", "Succeeded", "Failed", "Blocked"]
TERMINAL = frozenset({"Succeeded", "RolledBack", "Failed"})

APPROVE_ANNOTATION = "optimization.tap.io/approve"
ABORT_ANNOTATION = "optimization.tap.io/abort"
LOCK_ANNOTATION = "optimization.tap.io/locked-by"
# A person's requests beyond approve and abort (plan/requests.py): JSON {"by", "at"[, "phase"]}.
RETRY_ANNOTATION = "optimization.tap.io/retry"
PROCEED_ANNOTATION = "optimization.tap.io/proceed"


@dataclass(frozen=True)
class Readiness:
    """Whether the target and the composed resources a phase changed have caught up with it."""

    state: Literal["Ready", "Waiting", "Refused"]
    message: str = ""


@dataclass(frozen=True)
class TargetRef:
    """spec.targetRef: the object a plan changes, in the plan's namespace."""

    api_version: str
    kind: str
    name: str

    @property
    def group(self) -> str:
        return self.api_version.partition("/")[0]

    @property
    def key(self) -> str:
        """Kind.group, as kubectl names a kind (`DBInstance.rds.services.k8s.aws`)."""
        return f"{self.kind}.{self.group}"


@dataclass(frozen=True)
class Target:
    """The plan's target as the operator last read it: `kind` the adapter of its kind
    (targets.kinds), `obj` the whole object (apiVersion, kind, metadata, spec, status)."""

    exists: bool
    kind: TargetKind
    obj: dict[str, Any] = field(default_factory=dict)
    generation: int = 0
    lock_holder: str | None = None
    readiness: Readiness = field(default_factory=lambda: Readiness("Waiting"))
    untouchable: str = ""  # why nothing may change it now (paused, read-only, composed), or ""
    not_allowed: str = ""  # why the operator may not change this kind (its allow-list), or ""
    written_version: str = ""  # the resourceVersion this operator's last patch of it produced, if known


Cause = Literal["", "NoData", "LowTraffic", "NotFinite", "NoBaseline", "NoBound", "NewSeries", "SeriesVanished",
                "PartialResponse", "Unreachable", "QueryRejected", "AccessError"]


@dataclass(frozen=True)
class MetricResult:
    """One gate metric's worst series at one check, with what it was compared to.

    `cause` says why an Inconclusive result could not be judged (empty otherwise); `series` is the
    key of the series named (`{tenant="t1"}`), empty when the metric as a whole is meant.
    """

    name: str
    verdict: Literal["Pass", "Fail", "Inconclusive"]
    message: str
    value: float | None = None
    bound: float | None = None
    query: str = ""
    cause: Cause = ""
    series: str = ""


@dataclass(frozen=True)
class GateVerdict:
    """The outcome of one gate check: Fail if any metric fails, else Inconclusive if any is."""

    verdict: Literal["Pass", "Fail", "Inconclusive"]
    metrics: tuple[MetricResult, ...] = ()

    @staticmethod
    def of(metrics: tuple[MetricResult, ...]) -> GateVerdict:
        verdicts = {m.verdict for m in metrics}
        if "Fail" in verdicts:
            return GateVerdict("Fail", metrics)
        if "Inconclusive" in verdicts or not metrics:
            return GateVerdict("Inconclusive", metrics)
        return GateVerdict("Pass", metrics)

    @property
    def causes(self) -> tuple[str, ...]:
        """The distinct causes of the Inconclusive metrics, in order."""
        return tuple(dict.fromkeys(m.cause or "Unknown" for m in self.metrics if m.verdict == "Inconclusive"))


@dataclass(frozen=True)
class Preflight:
    """Whether every gate and volume query answered once before the first change: `rejected`
    queries can never answer (the plan fails before any change), `unanswered` ones may later (the
    plan waits, nothing changed). Each line names the field and quotes the backend."""

    rejected: tuple[str, ...] = ()
    unanswered: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.rejected and not self.unanswered


@dataclass(frozen=True)
class BacktestSummary:
    """The replay of the gates on history before the first change (`gates.backtest.summary`): the
    record status.backtest keeps, or, when Prometheus answered no part of the history, why (the
    plan waits and asks again)."""

    record: dict[str, Any] = field(default_factory=dict)
    unanswered: str = ""


@dataclass(frozen=True)
class Baseline:
    """Each gate metric's baseline per series key (only series with enough traffic) and, for the
    metrics without one, why."""

    values: dict[str, dict[str, float]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanRef:
    """The plan being decided: identity, annotations and spec generation."""

    namespace: str
    name: str
    generation: int
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def holder(self) -> str:
        """The value of the lock annotation this plan puts on its target."""
        return f"{self.namespace}/{self.name}"

    @property
    def approved_phases(self) -> set[str]:
        return {p.strip() for p in self.annotations.get(APPROVE_ANNOTATION, "").split(",") if p.strip()}

    @property
    def aborted(self) -> bool:
        return self.annotations.get(ABORT_ANNOTATION, "").lower() in ("true", "yes", "1")


@dataclass(frozen=True)
class Event:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Action:
    """The one effect on the target a step may have, done before the new status is written.

    kind: `lock` (take the target), `unlock` (release it) or `patch` (JSON-patch `ops`).
    """

    kind: Literal["lock", "unlock", "patch"]
    ops: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Decision:
    """One step: the next status, at most one action, events, and whether to step again now."""

    status: PlanStatus
    action: Action | None = None
    events: tuple[Event, ...] = ()
    again: bool = False

"""kopf wiring only: when to advance a plan, and the I/O around one pure step of plan/machine.

Each step looks at the plan and its target, asks the state machine what to do, does at most
one thing to the target, then writes the new status before the next step. kopf delivers
events at least once and timers and events may overlap, so a per-plan lock serialises steps
and the plan is always re-read fresh.

The gate endpoints come from the operator's configuration (configuration.py), read once; the
HTTP endpoints and leader election live outside kopf (running.py).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import datetime as dt
import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import kopf

from tap_optimizer import aws_refresh, cluster, configuration
from tap_optimizer.gates import backtest, endpoints, run
from tap_optimizer.gates.cloudwatch import CloudWatchGates
from tap_optimizer.gates.prometheus import NO_ACCESS, Access, PrometheusGates, fetch_history
from tap_optimizer.gates.provider import GateProvider, Unavailable
from tap_optimizer.metrics import METRICS
from tap_optimizer.notifications import transitions, webhook
from tap_optimizer.plan import loop, machine
from tap_optimizer.plan import status as plan_status
from tap_optimizer.plan.model import (
    ABORT_ANNOTATION,
    LOCK_ANNOTATION,
    TERMINAL,
    Action,
    BacktestSummary,
    Decision,
    Event,
    PlanRef,
    Readiness,
    Target,
    TargetRef,
)
from tap_optimizer.plan.spec import PlanSpec, parse
from tap_optimizer.plan.status import ChangeRecord, PlanStatus
from tap_optimizer.platform import pointer
from tap_optimizer.targets import allowed, kinds, tapplatform

GROUP, VERSION, PLURAL = cluster.PLAN
TICK_SECONDS = float(os.environ.get("TAP_OPTIMIZER_TICK_SECONDS", "5"))
MAX_STEPS = 25
# kopf ignores annotations under its own prefix; ours (approve, abort) must stay visible to it.
KOPF_PREFIX = "kopf.optimization.tap.io"

_locks: dict[str, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
# The resourceVersion each plan's last write to its target produced (by plan): the machine records
# it in status on the step after the write, where a restarted operator finds it.
_written: dict[str, str] = {}
_cluster: cluster.Cluster | None = None
_gates: PrometheusGates | None = None
_cloudwatch: CloudWatchGates | None = None


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Keep kopf's own bookkeeping in annotations, out of the status we own; start the clients."""
    global _cluster, _gates, _cloudwatch
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=KOPF_PREFIX)
    settings.persistence.finalizer = "optimization.tap.io/release-target"
    settings.posting.level = 20
    settings.background.cancellation_polling = 1
    try:
        _endpoints()
        _notifier()
        _instance_refresh()
    except endpoints.ConfigError as error:
        raise kopf.PermanentError(str(error)) from error
    cluster.load_config()
    _cluster, _gates, _cloudwatch = cluster.Cluster(), PrometheusGates(), CloudWatchGates()


@kopf.on.cleanup()
async def cleanup(**_: Any) -> None:
    if _gates is not None:
        await _gates.close()
    if _notifier.cache_info().currsize:
        await _notifier().close()


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    return kopf.login_via_client(**kwargs)


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def on_change(namespace: str, name: str, **_: Any) -> None:
    """A new, edited (spec or annotations) or resumed plan: step it now."""
    await advance(namespace, name, force=True)


@kopf.timer(GROUP, VERSION, PLURAL, interval=TICK_SECONDS, initial_delay=TICK_SECONDS)
async def on_tick(namespace: str, name: str, status: dict[str, Any], **_: Any) -> None:
    """Every wait is a timestamp in status: step the plan when it is due."""
    next_check = plan_status.next_check_at(status)
    if next_check and machine.parse_time(next_check) <= now():
        await advance(namespace, name, force=False)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def on_delete(namespace: str, name: str, body: kopf.Body, **_: Any) -> None:
    """Release the target. A rollback under way finishes first, and with rollbackOnDelete a plan
    under way rolls back first: the finalizer stays until the plan is finished (to force it, remove
    the finalizer by hand: the README says how)."""
    plan = await _cluster_().get_plan(namespace, name)
    if plan is None:
        METRICS.plan_gone(f"{namespace}/{name}")
        return
    state = plan_status.state(plan.get("status"))
    wants_rollback = (plan.get("spec") or {}).get("rollbackOnDelete") and state not in TERMINAL
    if wants_rollback or state == "RollingBack":
        annotations = {**(plan["metadata"].get("annotations") or {}), **({ABORT_ANNOTATION: "true"}
                                                                            if wants_rollback else {})}
        await advance(namespace, name, force=True, annotations=annotations)
        if plan_status.state(((await _cluster_().get_plan(namespace, name)) or {}).get("status", {})) not in TERMINAL:
            raise kopf.TemporaryError("rolling back before the plan goes", delay=TICK_SECONDS)
    await _release(namespace, plan, PlanRef(namespace, name, 0).holder)
    METRICS.plan_gone(f"{namespace}/{name}")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@functools.cache
def _endpoints() -> endpoints.GateConfig:
    """The gate endpoints of the operator's configuration, read once (the startup handler reads it first)."""
    return configuration.load_gate_config()


@functools.cache
def _instance_refresh() -> str:
    """`targets.instanceRefresh` of the operator's configuration (Await or Skip), read once."""
    return configuration.load_instance_refresh()


@functools.cache
def _refreshes() -> aws_refresh.InstanceRefreshes:
    """The Auto Scaling clients asking AWS for instance refreshes, made once (on first use)."""
    return aws_refresh.InstanceRefreshes()


@functools.cache
def _notifier() -> webhook.Notifier:
    """The webhooks of the operator's configuration, read once (the startup handler reads them first)."""
    return webhook.Notifier(configuration.load_webhooks(), _read_secret)


async def _read_secret(namespace: str, name: str) -> tuple[dict[str, str], dict[str, str | None]] | None:
    """A Secret in the operator's namespace: a webhook's URL."""
    return await _cluster_().read_secret(namespace, name)


def _cluster_() -> cluster.Cluster:
    assert _cluster is not None, "the startup handler creates the client"
    return _cluster


async def advance(namespace: str, name: str, *, force: bool, annotations: dict[str, str] | None = None) -> None:
    """Step the plan until it has to wait; write status after every step."""
    async with _locks[f"{namespace}/{name}"]:
        for step in range(MAX_STEPS):
            plan = await _cluster_().get_plan(namespace, name)
            if plan is None:
                METRICS.plan_gone(f"{namespace}/{name}")
                return
            METRICS.plan_seen(f"{namespace}/{name}", plan)
            if step == 0 and not force and not _due(plan):
                return
            with METRICS.time_step():
                decision = await _step(plan, annotations)
            if not decision.again:
                return


def _due(plan: dict[str, Any]) -> bool:
    next_check = plan_status.next_check_at(plan.get("status"))
    return next_check is not None and machine.parse_time(next_check) <= now()


async def _step(plan: dict[str, Any], annotations: dict[str, str] | None) -> Decision:
    """One step through the one step loop (plan/loop.py), its ports filled with the cluster and the gates."""
    meta = plan["metadata"]
    ref = PlanRef(meta["namespace"], meta["name"], meta.get("generation", 0),
                  annotations if annotations is not None else dict(meta.get("annotations") or {}))
    status = plan_status.of(plan.get("status"))
    endpoint, body, refused = endpoints.checked_spec(plan.get("spec"), _endpoints(), ref.namespace)
    problems = [str(e) for e in refused]
    access: Access | str = NO_ACCESS
    if endpoint and not problems:
        access, problems = await _access(endpoint)
    spec = None if problems else parse(body)
    return await loop.step(ClusterPorts(plan, ref, access), ref, plan.get("spec"), spec, tuple(problems), status,
                           now())


class ClusterPorts:
    """The step loop's ports in production: the Kubernetes API, the gate providers, kopf's Events."""

    def __init__(self, plan: dict[str, Any], ref: PlanRef, access: Access | str) -> None:
        self.plan, self.ref, self.access = plan, ref, access

    async def observe(self, target: TargetRef, status: PlanStatus) -> Target:
        return await _observe(self.ref, target, status)

    async def measure(self, wanted: set[str], spec: PlanSpec, status: PlanStatus) -> loop.Measured:
        if _gates is None:
            return loop.Measured()
        provider, at = _provider(spec, self.access), now().timestamp()
        if "preflight" in wanted:
            return loop.Measured(preflight=await run.preflight(provider, spec.gates, at))
        if "backtest" in wanted:
            return loop.Measured(backtest=await _replay(provider, spec, at))
        if "baseline" in wanted:
            return loop.Measured(baseline=await run.baseline(provider, spec.gates, at))
        baselines = run.read_baselines(status.get("baseline"), status.get("baselineOverflow"))
        verdict = await run.check(provider, spec.gates, baselines, at)
        METRICS.gate_checked(verdict.verdict)
        return loop.Measured(verdict=verdict)

    async def act(self, action: Action, target: TargetRef) -> bool:
        return await _execute(self.plan, self.ref, action, target)

    async def record(self, old: PlanStatus, new: PlanStatus, events: Sequence[Event]) -> None:
        if new != old:
            await _cluster_().write_plan_status(self.ref.namespace, self.ref.name, old, new)
            METRICS.status_written(self.ref.holder, old, new)
            # edge-triggered: the transitions this step made, told once (in the background)
            _notifier().send(transitions.notices(self.ref.namespace, self.ref.name, old, new,
                                                 machine.timestamp(now())))
            METRICS.plan_seen(f"{self.ref.namespace}/{self.ref.name}", {**self.plan, "status": new})
        for event in events:
            kopf.event(self.plan, type=event.type, reason=event.reason, message=event.message)


async def _replay(provider: GateProvider, spec: PlanSpec, at: float) -> BacktestSummary:
    """spec.gates.backtest: the gates replayed on the history before the first change; the replay's
    CPU time (about a second for two weeks) runs off the event loop."""
    assert spec.gates.backtest is not None
    history = await fetch_history(provider, spec.gates, at, spec.gates.backtest.days)
    report = await asyncio.to_thread(backtest.replay, spec.gates, history)
    return backtest.summary(report, history)


def _provider(spec: PlanSpec, access: Access | str) -> GateProvider:
    """The plan's gate provider: CloudWatch for a plan of CloudWatch queries (the region its endpoint
    gave, the operator's AWS credentials), else Prometheus; credentials that cannot be read
    (`access` says why) make every measurement Inconclusive, saying which."""
    assert _gates is not None and _cloudwatch is not None
    if isinstance(access, str):
        return Unavailable(access)
    return _cloudwatch.provider(spec.gates) if spec.gates.cloudwatch else _gates.provider(spec.gates, access)


async def _access(endpoint: endpoints.Endpoint) -> tuple[Access | str, list[str]]:
    """The bearer token and CA bundle of the plan's endpoint, read from their Secrets: the Access,
    or why the Secrets cannot be read now (the gates are then Inconclusive); and the fields to
    refuse (a plan's Secret its owner did not label for gates)."""
    found: dict[str, str] = {}
    for ref in endpoint.secrets:
        labels, data = await _cluster_().read_secret(ref.namespace, ref.name) or (None, None)
        refusal = endpoints.credential_refusal(ref, labels) if data is not None else None
        if refusal:
            return NO_ACCESS, [f"{ref.field}: {refusal}"]
        missing = endpoints.credential_missing(ref, data)
        if missing:
            return f"cannot read the gates' credentials: {missing}", []
        found[ref.field] = data[ref.key]
    token, ca = (found.get(ref.field) if ref else None for ref in (endpoint.token, endpoint.ca))
    return Access(token=token, ca=ca), []


async def _observe(ref: PlanRef, where: TargetRef, status: Mapping[str, Any]) -> Target:
    """The target, who holds it, and for a phase waiting to be live or restored, whether it (and
    for a TapPlatform the resources it composes) caught up. A kind outside the operator's
    allow-list is not read at all; one its RBAC does not let it read reads as not allowed."""
    kind = kinds.of(where.api_version, where.kind) or kinds.TapPlatformKind()
    refusal = allowed.refusal(_target_kinds(), where.api_version, where.kind)
    if refusal:
        return Target(exists=False, kind=kind, not_allowed=refusal)
    try:
        obj = await _cluster_().get_object(where.api_version, where.kind, ref.namespace, where.name)
    except cluster.ForbiddenError as forbidden:
        return Target(exists=False, kind=kind, not_allowed=f"the operator may not read {forbidden}: grant it `get` "
                                                           f"and `patch` on {where.key} (the chart does for the "
                                                           "kinds in targets.kinds)")
    if obj is None:
        return Target(exists=False, kind=kind)
    if kind.needs_crd:
        kind = kinds.of(where.api_version, where.kind, await _cluster_().get_crd(where.group, where.kind)) or kind
    holder = (obj["metadata"].get("annotations") or {}).get(LOCK_ANNOTATION)
    if holder and holder != ref.holder and await _finished(holder):
        holder = None  # a lock left by a plan that is gone or finished (an old manifest re-applied)
    return Target(exists=True, kind=kind, obj=obj, generation=obj["metadata"].get("generation", 0),
                  written_version=_written.get(ref.holder, ""),
                  lock_holder=holder or await _claimant(ref, where),
                  readiness=await _target_readiness(ref, kind, obj, status),
                  untouchable=kind.untouchable(obj))


@functools.cache
def _target_kinds() -> frozenset[tuple[str, str]]:
    """The kinds the operator's configuration allows plans to change, read once."""
    return configuration.load_target_kinds()


async def _finished(holder: str) -> bool:
    """Whether the plan named by a lock annotation (`namespace/name`) no longer exists or has ended."""
    namespace, _, name = holder.partition("/")
    plan = await _cluster_().get_plan(namespace, name) if namespace and name else None
    return plan is None or plan_status.state(plan.get("status")) in TERMINAL


async def _claimant(ref: PlanRef, target: TargetRef) -> str | None:
    """Another plan whose status says it holds the target, when the lock annotation is gone (someone
    cleaned annotations): the lock is the annotation or a plan under way that recorded taking it."""
    for other in await _cluster_().list_plans(ref.namespace):
        meta = other["metadata"]
        if meta["name"] != ref.name and plan_status.claims(other.get("status"), target.name, target.key):
            return PlanRef(ref.namespace, meta["name"], 0).holder
    return None


async def _target_readiness(ref: PlanRef, kind: kinds.TargetKind, obj: dict[str, Any],
                             status: Mapping[str, Any]) -> Readiness:
    """For a phase waiting to be live: whether the target caught up with its changes; for a phase
    restored: with its restored values."""
    record = plan_status.waiting_to_be_live(status)
    if record is None:
        return Readiness("Waiting")
    applied = record["state"] == "Applied"
    side: Literal["before", "after"] = "before" if applied else "after"
    generation = record["patchedGeneration"] if applied else record["restoredGeneration"]
    since = machine.parse_time(record["patchedAt"] if applied else record["restoredAt"])
    changes = record.get("changes", [])
    if isinstance(kind, kinds.TapPlatformKind):
        return await _readiness(ref, obj, changes, side, generation, since)
    wanted = {c["path"]: c.get("after" if applied else "before", pointer.ABSENT) for c in changes}
    written = record.get("patchedResourceVersion" if applied else "restoredResourceVersion", "")
    return kind.caught_up(obj, wanted, since, cluster.FIELD_MANAGER, written)


async def _readiness(ref: PlanRef, platform: dict[str, Any], changes: list[ChangeRecord],
                     side: Literal["before", "after"], generation: int, since: dt.datetime) -> Readiness:
    """Whether the platform and the composed resources that differ from the parameters with each
    change's `side` value put back have caught up with the change made at `since` (generation
    `generation` of the platform). With `targets.instanceRefresh: Await`, a change that moves an
    Auto Scaling group to a new launch template version is caught up only once AWS reports the
    group's instance refresh succeeded; with Skip, once the group names the new version."""
    current = platform["spec"]["parameters"]
    other = copy.deepcopy(current)
    for change in changes:
        other = pointer.put(other, change["path"], change.get(side, pointer.ABSENT))
    watched, removed = tapplatform.affected(platform["metadata"]["name"], other, current)
    found = [(w, await _cluster_().get_object(w.ref.api_version, w.ref.kind, ref.namespace, w.ref.name))
             for w in watched]
    lingering = [r for r in removed if await _cluster_().get_object(r.api_version, r.kind, ref.namespace, r.name)]
    judged = tapplatform.readiness(platform, generation, since, found, lingering)
    if _instance_refresh() == allowed.SKIP:
        return judged
    return await _refreshes().confirm(judged, tapplatform.refreshing(found), since)


async def _execute(plan: dict[str, Any], ref: PlanRef, action: Action, target: TargetRef) -> bool:
    """Do the action on the target; False when the API server refused it (it changed under us, or
    the operator may not change it: said in a Warning Event; the next step looks again)."""
    try:
        obj = await _cluster_().get_object(target.api_version, target.kind, ref.namespace, target.name)
        if obj is None:
            return False
        ops = {"lock": lambda: cluster.lock_ops(obj, ref.holder),
               "unlock": lambda: cluster.unlock_ops(ref.holder),
               "patch": lambda: [*cluster.held_ops(ref.holder), *action.ops]}[action.kind]()
        written = await _cluster_().patch_object(target.api_version, target.kind, ref.namespace, target.name, ops)
        _written[ref.holder] = str((written or {}).get("metadata", {}).get("resourceVersion", ""))
    except cluster.ForbiddenError as forbidden:
        kopf.warn(plan, reason="TargetForbidden", message=f"the operator may not change {forbidden}: grant it "
                                                          f"`patch` on {target.key} (chart value targets.kinds)")
        return False
    except cluster.RefusedError as refused:
        kopf.warn(plan, reason="TargetChanged",
                  message=f"the {target.kind} changed while the plan acted ({refused}); looking again")
        return False
    return True


async def _release(namespace: str, plan: dict[str, Any], holder: str) -> None:
    where = loop.target_ref(plan.get("spec"), plan.get("status") or {})
    if allowed.refusal(_target_kinds(), where.api_version, where.kind):
        return
    try:
        obj = await _cluster_().get_object(where.api_version, where.kind, namespace, where.name)
        if obj and (obj["metadata"].get("annotations") or {}).get(LOCK_ANNOTATION) == holder:
            await _cluster_().patch_object(where.api_version, where.kind, namespace, where.name,
                                           cluster.unlock_ops(holder))
    except cluster.ForbiddenError as forbidden:
        kopf.warn(plan, reason="TargetForbidden", message=f"cannot release {forbidden}: remove the annotation "
                                                          f"{LOCK_ANNOTATION} by hand")

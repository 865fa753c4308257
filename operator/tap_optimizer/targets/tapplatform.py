"""The TapPlatform as a target: which composed resources a change touches, which phases AWS will
not apply as one, and when the platform has caught up.

The composition's own renderer says what a change does: render the parameters before and after,
and the difference is exactly the managed resources to watch (with the forProvider fields each
must report back) and those that must be gone. Each watched resource is judged by its kind's
adapter (`managed`); the TapPlatform must have reconciled the patched generation first.

An instance-type change updates the launch template, which makes a new template version; the
function points the Auto Scaling group at that version on a later reconcile, once AWS reports it
(`composition/render/compute.py`), and that update starts the group's instance refresh. So the
group is watched too: it must name the template's latest version, and AWS must report the group
on it, before the phase is live. Even then the instances are the old ones until the refresh has
replaced them, which only AWS reports: `refreshing` names the groups whose instance refresh must
have succeeded (judged by `refresh.refreshed` on AWS's DescribeInstanceRefreshes, asked by
`aws_refresh`) once everything here is Ready.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tap_optimizer.plan.model import Readiness
from tap_optimizer.targets import conditions, managed

APPLY_IMMEDIATELY = "spec.parameters.applyImmediately"
TEMPLATE, GROUP = "ec2/LaunchTemplate", "autoscaling/AutoscalingGroup"


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class Watched:
    """A composed resource a change touches, with the forProvider fields it sets (by path)."""

    ref: ObjectRef
    expected: managed.Leaves = field(default_factory=dict, hash=False, compare=False)


def render(xr_name: str, parameters: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The managed resources the composition renders for these parameters, by resource name."""
    return render_platform({"metadata": {"name": xr_name}, "spec": {"parameters": parameters}})


def affected(xr_name: str, before: dict[str, Any], after: dict[str, Any]) -> tuple[list[Watched], list[ObjectRef]]:
    """Composed resources the change from `before` to `after` modifies or adds (to catch up), and
    those it removes (to be gone); a changed launch template brings its Auto Scaling group."""
    old, new = render(xr_name, before), render(xr_name, after)
    watched = [Watched(_ref(new[k]), managed.changed_leaves(managed.for_provider(old.get(k, {})),
                                                            managed.for_provider(new[k])))
               for k in sorted(new) if old.get(k) != new[k]]
    if any(managed.kind_key(new[k]) == TEMPLATE for k in new if old.get(k) != new[k]):
        watched += [Watched(_ref(obj)) for obj in new.values()
                    if managed.kind_key(obj) == GROUP and _ref(obj) not in {w.ref for w in watched}]
    removed = [_ref(old[k]) for k in sorted(set(old) - set(new))]
    return watched, removed


def _ref(obj: dict[str, Any]) -> ObjectRef:
    return ObjectRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


PAUSED_ANNOTATION = "crossplane.io/paused"


def untouchable(xr: dict[str, Any]) -> str:
    """Why no plan may change the TapPlatform now, or "": Crossplane does not reconcile a composite
    annotated `crossplane.io/paused: "true"`, so a patch would never reach AWS (and a rollback
    never either)."""
    annotations = (xr.get("metadata") or {}).get("annotations") or {}
    if annotations.get(PAUSED_ANNOTATION) == "true":
        return f"is paused ({PAUSED_ANNOTATION}: \"true\"): Crossplane does not reconcile it"
    return ""


def phase_problems(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Why the change from `before` to `after` (parameters) cannot be one phase on this platform,
    one sentence each (see `managed.phase_problems`); [] when it can."""
    try:
        new = render("platform", after)
    except InvalidPlatformError as invalid:
        return [str(invalid)]
    try:
        old = render("platform", before)
    except InvalidPlatformError:
        return []  # the target as it is does not render: its resources cannot have been made from it
    problems = []
    for key in sorted(set(old) & set(new)):
        kind = managed.kind_key(new[key])
        window = after["database"]["preferredMaintenanceWindow"] if kind.startswith("rds/") else None
        found = managed.phase_problems(key, kind, managed.for_provider(old[key]), managed.for_provider(new[key]),
                                       window)
        problems += [p.replace("applyImmediately is not true", f"{APPLY_IMMEDIATELY} is false (set it true in an "
                                                               "earlier phase)")
                     .replace("set applyImmediately true", f"set {APPLY_IMMEDIATELY} true") for p in found]
    return problems


def readiness(xr: dict[str, Any], generation: int, since: dt.datetime,
              found: list[tuple[Watched, dict[str, Any] | None]], lingering: list[ObjectRef]) -> Readiness:
    """Ready when the TapPlatform reconciled `generation` and is Synced and Ready, every watched
    composed resource has caught up with the change made at `since` (its kind's adapter), an Auto
    Scaling group runs its launch template's latest version, and every removed resource is gone.
    A refusal anywhere, once the TapPlatform reconciled `generation`, is Refused, quoting it;
    before that, conditions may be stale: Waiting."""
    observed = conditions.condition(xr, "Ready").get("observedGeneration",
                                                     (xr.get("status") or {}).get("observedGeneration", 0))
    if observed < generation:
        return Readiness("Waiting", f"TapPlatform has reconciled generation {observed} of {generation}")
    synced = conditions.current(xr, "Synced", since)
    if synced.get("status") == "False":
        return Readiness("Refused", f"TapPlatform is not Synced: {synced.get('reason', '')}: "
                                    f"{synced.get('message', '')}")
    judged = [(str(w.ref), _judge(w, obj, found, since)) for w, obj in found]
    refused = [r for _, r in judged if r.state == "Refused"]
    if refused:
        return refused[0]
    waiting = [r.message for _, r in judged if r.state == "Waiting"]
    if synced.get("status") != "True" or conditions.current(xr, "Ready", since).get("status") != "True":
        waiting.insert(0, "TapPlatform is not yet Synced and Ready")
    waiting += [f"{ref} is not deleted yet" for ref in lingering]
    return Readiness("Waiting", "; ".join(waiting)) if waiting else Readiness("Ready")


def _judge(watched: Watched, obj: dict[str, Any] | None, found: list[tuple[Watched, dict[str, Any] | None]],
           since: dt.datetime) -> Readiness:
    what = str(watched.ref)
    if obj is None:
        return Readiness("Waiting", f"{what} does not exist yet")
    caught = managed.caught_up(what, obj, watched.expected, since)
    if caught.state != "Ready" or managed.kind_key(obj) != GROUP:
        return caught
    template = next((o for w, o in found if o is not None and managed.kind_key(o) == TEMPLATE), None)
    return _on_latest_version(what, obj, template)


def refreshing(found: list[tuple[Watched, dict[str, Any] | None]]) -> list[tuple[str, dict[str, Any], str]]:
    """The watched Auto Scaling groups whose instance refresh must have succeeded before the phase
    is live, each with its name and the launch template version it moves to: only when the launch
    template is among the changed resources (a new version, whose adoption by the group starts the
    refresh; a change to the group alone starts none) and AWS reports that version."""
    template = next((o for w, o in found if o is not None and managed.kind_key(o) == TEMPLATE), None)
    latest = (((template or {}).get("status") or {}).get("atProvider") or {}).get("latestVersion")
    if latest is None:
        return []
    return [(str(w.ref), o, str(int(latest))) for w, o in found if o is not None and managed.kind_key(o) == GROUP]


def _on_latest_version(what: str, group: dict[str, Any], template: dict[str, Any] | None) -> Readiness:
    """Whether the group names, and AWS reports it on, the launch template's latest version."""
    latest = (((template or {}).get("status") or {}).get("atProvider") or {}).get("latestVersion")
    if latest is None:
        return Readiness("Waiting", f"{what}: the launch template's new version is not reported yet")
    wanted = str(int(latest))
    named = str((managed.for_provider(group).get("launchTemplate") or {}).get("version", ""))
    running = str((((group.get("status") or {}).get("atProvider") or {}).get("launchTemplate") or {})
                  .get("version", ""))
    if named != wanted or running != wanted:
        return Readiness("Waiting", f"{what}: launch template version {named or 'unset'} (AWS reports "
                                    f"{running or 'none'}), not yet the latest, {wanted}; the instance refresh "
                                    "starts when the group moves to it")
    return Readiness("Ready")

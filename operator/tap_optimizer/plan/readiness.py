"""Has the target caught up with a phase? Read from the TapPlatform and the composed resources
the phase changes, which the renderer names: render the parameters before and after, and the
difference is exactly the objects to watch (and those that must be gone)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tap_optimizer.composition.render.platform import render_platform
from tap_optimizer.plan.model import Readiness


@dataclass(frozen=True)
class ObjectRef:
    api_version: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


def affected(xr_name: str, before: dict[str, Any], after: dict[str, Any]) -> tuple[list[ObjectRef], list[ObjectRef]]:
    """Composed resources a change modifies or adds (to be Ready), and those it removes (to be gone)."""
    old = render_platform({"metadata": {"name": xr_name}, "spec": {"parameters": before}})
    new = render_platform({"metadata": {"name": xr_name}, "spec": {"parameters": after}})
    changed = [_ref(new[k]) for k in sorted(new) if old.get(k) != new[k]]
    removed = [_ref(old[k]) for k in sorted(set(old) - set(new))]
    return changed, removed


def _ref(obj: dict[str, Any]) -> ObjectRef:
    return ObjectRef(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c.get("type") == kind), {})


def current_condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    """The condition if it speaks of the object's current generation: a condition observed at an
    older generation (a refusal before a rollback) says nothing about the spec the object has now."""
    found = condition(obj, kind)
    generation = (obj.get("metadata") or {}).get("generation")
    return found if generation is None or found.get("observedGeneration", generation) >= generation else {}


def readiness(xr: dict[str, Any], generation: int, changed: dict[ObjectRef, dict[str, Any] | None],
              removed_still_there: list[ObjectRef]) -> Readiness:
    """Ready when the TapPlatform reconciled `generation` and is Synced and Ready, every changed
    composed resource is Synced and Ready, and every removed one is gone. A current Synced=False
    anywhere, once the TapPlatform reconciled `generation`, is the provider (or the function)
    refusing the change: Refused, quoting it. Before that, conditions may be stale: Waiting."""
    observed = condition(xr, "Ready").get("observedGeneration", (xr.get("status") or {}).get("observedGeneration", 0))
    if observed < generation:
        return Readiness("Waiting", f"TapPlatform has reconciled generation {observed} of {generation}")
    present: list[tuple[str, dict[str, Any]]] = [("TapPlatform", xr), *[(str(r), o) for r, o in changed.items() if o]]
    for what, found in present:
        synced = current_condition(found, "Synced")
        if synced.get("status") == "False":
            reason, message = synced.get("reason", ""), synced.get("message", "")
            return Readiness("Refused", f"{what} is not Synced: {reason}: {message}")
    waiting = []
    seen: list[tuple[str, dict[str, Any] | None]] = [("TapPlatform", xr), *[(str(r), o) for r, o in changed.items()]]
    for what, obj in seen:
        if obj is None:
            waiting.append(f"{what} does not exist yet")
        elif current_condition(obj, "Synced").get("status") != "True" or \
                current_condition(obj, "Ready").get("status") != "True":
            waiting.append(f"{what} is not yet Synced and Ready")
    waiting += [f"{ref} is not deleted yet" for ref in removed_still_there]
    return Readiness("Waiting", "; ".join(waiting)) if waiting else Readiness("Ready")

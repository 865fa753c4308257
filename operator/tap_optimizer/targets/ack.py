"""ACK (AWS Controllers for Kubernetes) objects as targets: which spec paths a plan may change,
which changes must be separate phases, when an object must not be touched at all, and when it has
caught up with a change. Facts: `../shared/reference/ack.md` (sections named below) and the CRDs in
`../shared/schemas/ack/` (their SOURCES.md names the upstream commits).

A phase's changes are a mapping from a keyed pointer (`tap_optimizer.platform.keyed`: list
elements by key, `/spec/globalSecondaryIndexes[indexName=ByRole]`) to the value it sets, ABSENT to
remove. Adapters are looked up by (API group, kind) in `KINDS`.

The kinds themselves (fields, keyed lists, status, own refusals and doors) are data in
`ack_kinds`; this module holds what applies to every kind.

Caught up (`caught_up`), in this order (ack.md 1.3, 1.6 points 1 and 2):
- ACK conditions carry no observedGeneration, and every reconcile rewrites them all stamping
  lastTransitionTime now: a condition counts only if stamped at or after the change;
- a current `ACK.Terminal=True` is AWS refusing the change: Refused, quoting AWS. It is read before
  `ACK.ResourceSynced`, which a DBInstance in a terminal status reports True;
- no current `ACK.ResourceSynced` (no reconcile since the change), `ACK.Recoverable=True` (ACK
  retries: throttling, capacity), `ACK.ResourceSynced` False or Unknown: Waiting;
- the kind's status must say AWS is done (`available`, `ACTIVE`, nothing pending);
- every changed path must still hold our value after ACK wrote the spec back from AWS (AWS may add
  fields to what we set, as it does to a GSI; it must not change or drop ours).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from tap_optimizer.plan.model import Readiness
from tap_optimizer.platform import keyed
from tap_optimizer.platform.pointer import PointerError
from tap_optimizer.targets import conditions
from tap_optimizer.targets.ack_kinds import ITEMS, KINDS, AckKind, Changes, SchemaPath, dotted, schema_path

READ_ONLY = "services.k8s.aws/read-only"
TERMINAL, RECOVERABLE, SYNCED = "ACK.Terminal", "ACK.Recoverable", "ACK.ResourceSynced"
IMMUTABLE_RULE = "self == oldSelf"


def adapter(api_version: str, kind: str) -> AckKind | None:
    """The adapter for an object's apiVersion (`rds.services.k8s.aws/v1alpha1`) and kind, or None."""
    return KINDS.get((api_version.partition("/")[0], kind))


# -- immutable fields, from the target's own CRD (ack.md 1.6 point 4) ---------------------------------

def immutable_fields(crd: dict[str, Any]) -> dict[SchemaPath, str]:
    """Every schema node of the CRD's storage version whose `x-kubernetes-validations` hold
    `self == oldSelf`, with the rule's message: the API server refuses any change to it (422)."""
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    return dict(_immutable(version["schema"]["openAPIV3Schema"], ()))


def _immutable(node: Any, path: SchemaPath) -> Iterator[tuple[SchemaPath, str]]:
    if not isinstance(node, dict):
        return
    for rule in node.get("x-kubernetes-validations") or []:
        if IMMUTABLE_RULE in rule.get("rule", ""):
            yield path, rule.get("message", "Value is immutable once set")
    for name, child in (node.get("properties") or {}).items():
        yield from _immutable(child, (*path, name))
    yield from _immutable(node.get("items"), (*path, ITEMS))


# -- may a phase make these changes? ------------------------------------------------------------------

def change_problems(adapter: AckKind, crd: dict[str, Any], target: dict[str, Any], changes: Changes) -> list[str]:
    """Why this phase must not patch `target` (an object of `adapter`'s kind, as just read, with its
    CRD): one sentence each, naming the field and what is allowed; [] when it may. Checked before
    any patch: a 422 for an immutable field would otherwise read as "look again" (ack.md 1.6 point 4)."""
    what = f"{adapter.what} {(target.get('metadata') or {}).get('name', '')}".rstrip()
    problems: list[str] = []
    immutable = immutable_fields(crd)
    for path, value in changes.items():
        problems += path_problems(adapter, immutable, what, path) or _unwritable(target, what, path, value)
    if problems:
        return problems
    actual = _actual(target, changes)
    exclusive = [dotted(f) for f in adapter.exclusive if any(schema_path(p)[:len(f)] == f for p in actual)]
    if len(exclusive) > 1:
        problems.append(f"{what}: {' and '.join(exclusive)} change together, but AWS applies them as separate "
                        "modifications, one kind per reconcile: change each in its own phase")
    return problems + [p for rule in adapter.rules for p in rule(what, target, actual)]


def path_problems(adapter: AckKind, immutable: dict[SchemaPath, str], what: str, path: str) -> list[str]:
    """Why a plan may not change `path` of an object of this kind (one sentence each): not a
    keyed pointer, an immutable field (of `immutable`, from the CRD), a field the kind forbids or
    does not allow, a list element not named by its key."""
    try:
        steps = keyed.steps(path)
    except PointerError as error:
        return [f"{what}: {error}"]
    schema = schema_path(path)
    for fixed, message in immutable.items():
        if _overlap(schema, fixed):
            return [f"{what}: {dotted(fixed)} is immutable ({message!r}: the CRD's rule {IMMUTABLE_RULE}); the "
                    "API server refuses any change to it"]
    for never, why in adapter.forbidden.items():
        if _overlap(schema, never):
            return [f"{what}: {dotted(never)} is not changed by a plan: {why}"]
    if not any(schema[:len(f)] == f for f in adapter.changeable):
        return [f"{what}: {path} is not a field a plan may change; allowed: "
                + ", ".join(dotted(f) for f in adapter.changeable)]
    return _key_problems(adapter, what, path, steps)


def _unwritable(target: dict[str, Any], what: str, path: str, value: Any) -> list[str]:
    """A change the target as read cannot take: a list entered by position, no parent to set it in."""
    try:
        if keyed.get(target, path) != value:
            keyed.put(target, path, value)
    except PointerError as error:
        return [f"{what}: {error}"]
    return []


def _actual(target: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """The changes that change something in the target as read."""
    return {p: v for p, v in changes.items() if keyed.get(target, p) != v}


def one_way_doors(adapter: AckKind, target: dict[str, Any], changes: Changes) -> list[str]:
    """The one-way doors among the phase's changes of `target` (valid changes, see
    `change_problems`): one sentence each; a plan marks them irreversible and asks approval."""
    what = f"{adapter.what} {(target.get('metadata') or {}).get('name', '')}".rstrip()
    return adapter.doors(what, target, _actual(target, changes))


def _key_problems(adapter: AckKind, what: str, path: str, steps: tuple[keyed.Step, ...]) -> list[str]:
    """Elements of a keyed list are named by their declared key, and only there."""
    walked: SchemaPath = ()
    for step in steps:
        walked = (*walked, step.name)
        keys = adapter.keyed.get(walked)
        if keys is None and step.keys:
            return [f"{what}: {path}: {dotted(walked)} is not a list whose elements a plan names by key"]
        if keys is not None and tuple(k for k, _ in step.keys) != keys:
            example = ",".join(f"{k}=<{k}>" for k in keys)
            return [f"{what}: {path}: name one element of {dotted(walked)} by {', '.join(keys)}, as "
                    f"{dotted(walked)}[{example}]: ACK rewrites the list in AWS's order"]
        if step.keys:
            walked = (*walked, ITEMS)
        if keys is not None and step.keys and step is not steps[-1] and steps[steps.index(step) + 1].name in keys:
            return [f"{what}: {path}: {steps[steps.index(step) + 1].name} names the element; a plan does not rename "
                    "it (AWS would drop the element and make another): remove it and add the new one"]
    return []


def _overlap(a: SchemaPath, b: SchemaPath) -> bool:
    """One path lies inside the other (or they are the same)."""
    return a[:len(b)] == b or b[:len(a)] == a


# -- must not be touched at all (ack.md 1.3 read-only, 1.5 owned objects) ---------------------------

def untouchable(target: dict[str, Any]) -> str | None:
    """Why no plan may patch this object, or None: a read-only object appears synced while AWS is
    untouched (runtime `reconciler.go Sync`); one a controller owns (kro, Helm operators, a
    composite) is overwritten by its owner at its next reconcile."""
    meta = target.get("metadata") or {}
    name = f"{target.get('kind', 'object')} {meta.get('name', '')}".rstrip()
    if (meta.get("annotations") or {}).get(READ_ONLY) == "true":
        return (f"{name} is read-only (annotation {READ_ONLY}: \"true\"): ACK would report a change synced and "
                "leave AWS untouched")
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        return (f"{name} is controlled by {owner.get('kind')} {owner.get('name')}, which would overwrite a change: "
                f"change that {owner.get('kind')} instead")
    return None


# -- caught up with a change ---------------------------------------------------------------------------

def caught_up(adapter: AckKind, obj: dict[str, Any], changes: Changes, since: dt.datetime) -> Readiness:
    """Whether `obj` has caught up with `changes` made at `since` (the API server's time of our
    patch, as it stamps it: seconds); see the module docstring for the order of the checks."""
    what = f"{adapter.what} {(obj.get('metadata') or {}).get('name', '')}".rstrip()
    terminal = conditions.current(obj, TERMINAL, since)
    if terminal.get("status") == "True":
        return Readiness("Refused", f"{what}: ACK.Terminal: {terminal.get('message') or terminal.get('reason', '')}")
    synced = conditions.current(obj, SYNCED, since)
    if not synced:
        return Readiness("Waiting", f"{what}: ACK has not reconciled since the change ({SYNCED} not stamped after it)")
    recoverable = conditions.current(obj, RECOVERABLE, since)
    if recoverable.get("status") == "True":
        return Readiness("Waiting", f"{what}: ACK.Recoverable: {recoverable.get('message', '')} (ACK retries)")
    if synced.get("status") != "True":
        return Readiness("Waiting", f"{what}: {SYNCED} is {synced.get('status')}: {synced.get('message', '')}"
                         .rstrip(": "))
    waiting = adapter.status(obj) + _not_held(obj, changes)
    return Readiness("Waiting", f"{what}: {'; '.join(waiting)}") if waiting else Readiness("Ready")


def patched_at(obj: dict[str, Any], manager: str) -> dt.datetime | None:
    """The API server's time of `manager`'s last write to the object (its `managedFields` entry),
    in whole seconds as the server records it; None when it has none. This is the `since` of
    `caught_up`: ACK stamps conditions with the API server's clock's seconds too, so the reconcile
    our patch triggers, in the same second, counts; an operator clock, or a time read after the
    patch, could be later than that reconcile and wait for one that never comes (ack.md 1.6 point 1)."""
    entry = next((m for m in (obj.get("metadata") or {}).get("managedFields") or []
                  if m.get("manager") == manager and not m.get("subresource")), None)
    return conditions.stamped({"lastTransitionTime": entry.get("time")}) if entry else None


def _not_held(obj: dict[str, Any], changes: Changes) -> list[str]:
    """The changed paths whose value ACK's write-back from AWS does not hold."""
    found = []
    for path, value in sorted(changes.items()):
        current = keyed.get(obj, path)
        if not holds(current, value):
            found.append(f"{path} reads {current!r} as ACK wrote it back from AWS, not yet {value!r}")
    return found


def holds(current: Any, wanted: Any) -> bool:
    """`current` holds everything of `wanted`: every field we set with the value we set, at any
    depth; AWS may have added fields (a GSI's provisioned throughput, defaults). A list of plain
    values is a set to AWS (Terraform's sets, `x-kubernetes-list-type: set`: a GSI's
    nonKeyAttributes): its order is AWS's. ABSENT holds only ABSENT."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(k in current and holds(current[k], v) for k, v in wanted.items())
    if isinstance(wanted, list) and all(not isinstance(w, dict | list) for w in wanted):
        return isinstance(current, list) and sorted(map(repr, current)) == sorted(map(repr, wanted))
    if isinstance(wanted, list):
        return isinstance(current, list) and len(current) == len(wanted) and all(
            holds(c, w) for c, w in zip(current, wanted, strict=True))
    return bool(current == wanted)

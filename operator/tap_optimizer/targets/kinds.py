"""The kinds of object a plan may target, each as one adapter the state machine works through:
the TapPlatform, the ACK kinds (`ack`, `ack_kinds`) and plain provider-upjet-aws managed
resources (`managed`).

A plan's change paths are pointers into the whole object (`/spec/...`). The TapPlatform's are
plain RFC 6901 pointers under `/spec/parameters` (its tables and indexes are maps, see
`platform.pointer`); the others name list elements by key (`platform.keyed`:
`/spec/globalSecondaryIndexes[indexName=ByRole]`), since ACK and upjet keep GSIs, node groups
and replicas in lists that AWS reorders.

Every adapter answers, for the object as just read: the value at a path, the object after a
change, the JSON-patch operations that make a change only if the object still is as read, the
value as the API server stores it, why a phase cannot apply (`problems`: values the CRD refuses,
immutable fields, rules of the kind such as separate modifications), its one-way doors, why the
object must not be touched now (`untouchable`: paused, read-only, owned by a composite), why
changes would not reach AWS (`observe_only`), and whether a value read back still holds the one
set (`holds`: ACK and upjet write AWS's state back into the spec, filling in defaults).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.openapi import Schema, apply_defaults, validate
from tap_optimizer.plan import doors
from tap_optimizer.plan.model import Readiness
from tap_optimizer.platform import keyed, pointer
from tap_optimizer.platform.parameters import observe_only, parameter_errors, schema_at
from tap_optimizer.platform.pointer import ABSENT, PointerError
from tap_optimizer.targets import ack, managed, tapplatform
from tap_optimizer.targets.ack_kinds import ITEMS, AckKind, dotted, schema_path

Changes = Mapping[str, Any]
TAPPLATFORM = ("platform.tap.io/v1alpha1", "TapPlatform")
ACK_VERSION, MANAGED_VERSION, MANAGED_GROUP = "v1alpha1", "v1beta1", "aws.m.upbound.io"
UPJET_SUFFIX = ".aws.m.upbound.io"
COMPOSITE_LABEL = "crossplane.io/composite"


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


@dataclass(frozen=True)
class TapPlatformKind:
    """Our composite: paths under /spec/parameters, its XRD's schema, its composition's rules."""

    api_version: str = TAPPLATFORM[0]
    kind: str = TAPPLATFORM[1]
    needs_crd: bool = False

    def get(self, obj: Mapping[str, Any], path: str) -> Any:
        return pointer.get(_parameters(obj), path)

    def put(self, obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
        spec = dict(obj.get("spec") or {})
        spec["parameters"] = pointer.put(_parameters(obj), path, value)
        return {**obj, "spec": spec}

    def patch_ops(self, obj: Mapping[str, Any], path: str, expected: Any, value: Any) -> list[dict[str, Any]]:
        return pointer.patch_ops(path, expected, value)

    def stored(self, path: str, value: Any) -> Any:
        """The value as the API server stores it: the XRD's defaults applied, so a field the server
        fills in (an index's projection) is never taken for someone else's change."""
        return value if value is ABSENT else apply_defaults(schema_at(path), value)

    def problems(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        errors = [str(e) for e in parameter_errors(_parameters(after))]
        return errors or tapplatform.phase_problems(_parameters(before), _parameters(after))

    def doors(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        return doors.one_way_doors(_parameters(before), _parameters(after))

    def untouchable(self, obj: dict[str, Any]) -> str:
        return tapplatform.untouchable(obj)

    def observe_only(self, obj: dict[str, Any]) -> str:
        if not observe_only(_parameters(obj)):
            return ""
        return ("is being adopted (spec.parameters.managementMode: ObserveOnly): Crossplane only observes its AWS "
                "resources, so no change would reach them; set managementMode to Full once `tap-optimizer import "
                "--check` lists no difference")

    def holds(self, current: Any, wanted: Any) -> bool:
        return bool(current == wanted)


def _parameters(obj: Mapping[str, Any]) -> dict[str, Any]:
    return dict((obj.get("spec") or {}).get("parameters") or {})


@dataclass(frozen=True)
class _KeyedKind:
    """What ACK objects and upjet managed resources share: keyed paths, the CRD's schema and
    immutable fields, values that hold when AWS added to them."""

    api_version: str
    kind: str
    crd: dict[str, Any] | None = field(default=None, compare=False)
    needs_crd: bool = True

    def get(self, obj: Mapping[str, Any], path: str) -> Any:
        return keyed.get(obj, path)

    def put(self, obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
        return keyed.put(obj, path, value)

    def patch_ops(self, obj: Mapping[str, Any], path: str, expected: Any, value: Any) -> list[dict[str, Any]]:
        return keyed.patch_ops(obj, path, expected, value)

    def stored(self, path: str, value: Any) -> Any:
        return value

    def holds(self, current: Any, wanted: Any) -> bool:
        return ack.holds(current, wanted)

    def crd_problems(self, what: str, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
        """What the target's CRD refuses in the object after the phase that it did not refuse before
        (a value of the wrong type, a required field removed, a CEL rule broken), each naming the
        field; [] without. Without the CRD nothing can be checked: that is a problem too (the API
        server would answer a 422 the operator cannot tell from a moved object)."""
        if self.crd is None:
            return [f"{what}: the CustomResourceDefinition of {self.kind} cannot be read, so the change cannot be "
                    "checked against it; grant the operator `get` on it (the chart does for allow-listed kinds)"]
        schema = _storage_schema(self.crd)
        old = {str(e) for e in validate(schema, _checked(before))}
        return [f"{what}: {e}" for e in validate(schema, _checked(after)) if str(e) not in old]


def _checked(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of an object a write of its spec is validated on."""
    return {k: obj[k] for k in ("apiVersion", "kind", "spec") if k in obj}


def _storage_schema(crd: Mapping[str, Any]) -> Schema:
    version = next(v for v in crd["spec"]["versions"] if v.get("storage", True))
    return dict(version["schema"]["openAPIV3Schema"])


def _schema_at(schema: Schema, path: tuple[str, ...]) -> Schema | None:
    """The schema node at a schema path, or None where the schema says nothing (free form)."""
    node: Any = schema
    for part in path:
        node = node.get("items") if part == ITEMS else (node.get("properties") or {}).get(part)
        if not isinstance(node, dict):
            return None
    return dict(node)


@dataclass(frozen=True)
class AckTargetKind(_KeyedKind):
    """An ACK kind (`ack_kinds.KINDS`)."""

    adapter: AckKind | None = None

    def _adapter(self) -> AckKind:
        assert self.adapter is not None
        return self.adapter

    def problems(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        what = f"{self._adapter().what} {_name(before)}".rstrip()
        if self.crd is None:
            return self.crd_problems(what, before, after)
        return ack.change_problems(self._adapter(), self.crd, before, changes) or \
            self.crd_problems(what, before, after)

    def path_problems(self, path: str) -> list[str]:
        """Why no plan may change `path` of this kind, known without the object or its CRD."""
        return ack.path_problems(self._adapter(), {}, self._adapter().what, path)

    def doors(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        return ack.one_way_doors(self._adapter(), before, changes)

    def untouchable(self, obj: dict[str, Any]) -> str:
        return ack.untouchable(obj) or ""

    def caught_up(self, obj: dict[str, Any], changes: Changes, since: dt.datetime, manager: str,
                  written: str = "") -> Readiness:
        """Whether the object caught up with `changes` (path to the value set), made by `manager`
        at about `since` and producing resourceVersion `written` (when known). ACK stamps its
        conditions in whole seconds, so a reconcile in the second of our patch but before it
        looks as fresh as one after it: nothing counts until someone wrote after our patch (the
        resourceVersion moved on). Times are our write's own, as the API server stamped it (see
        `ack.patched_at`), else `since` to the second."""
        what = f"{self._adapter().what} {_name(obj)}".rstrip()
        if written and (obj.get("metadata") or {}).get("resourceVersion") == written:
            return Readiness("Waiting", f"{what}: ACK has not reconciled since the change (nothing written after it)")
        stamped = ack.patched_at(obj, manager) or since.replace(microsecond=0)
        return ack.caught_up(self._adapter(), obj, changes, stamped)

    def observe_only(self, obj: dict[str, Any]) -> str:
        return ""


FOR_PROVIDER = ("spec", "forProvider")


@dataclass(frozen=True)
class ManagedTargetKind(_KeyedKind):
    """A provider-upjet-aws managed resource of a namespaced `.m.` group, not composed."""

    rules: managed.KindRules = field(default_factory=lambda: managed.KindRules(""))

    @property
    def key(self) -> str:
        return f"{self.api_version.split('.')[0]}/{self.kind}"

    def problems(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        what = f"{self.rules.what} {_name(before)}".rstrip()
        problems = [p for path in changes for p in self.path_problems(path, what)]
        if problems:
            return problems
        immutable = ack.immutable_fields(self.crd) if self.crd else {}
        problems = [f"{what}: {dotted(fixed)} is immutable ({message!r}); the API server refuses any change to it"
                    for path in changes for fixed, message in immutable.items()
                    if _overlap(schema_path(path), fixed)]
        window = (((before.get("status") or {}).get("atProvider") or {}).get("preferredMaintenanceWindow"))
        return problems or self.crd_problems(what, before, after) or managed.phase_problems(
            _name(before), self.key, managed.for_provider(before), managed.for_provider(after), window)

    def path_problems(self, path: str, what: str = "") -> list[str]:
        """Why no plan may change `path`: it must name a changeable forProvider field, and an
        element of one of its keyed lists by that list's key only."""
        what = what or self.rules.what
        try:
            steps = keyed.steps(path)
        except PointerError as error:
            return [f"{what}: {error}"]
        names = tuple(s.name for s in steps)
        if names[:2] != FOR_PROVIDER or len(names) < 3 or names[2] not in self.rules.changeable:
            allowed = ", ".join(f"/spec/forProvider/{f}" for f in self.rules.changeable)
            return [f"{what}: {path} is not a field a plan may change; allowed: {allowed}"]
        keys = self.rules.keyed.get(names[2])
        wrong = [s for i, s in enumerate(steps) if s.keys and (i != 2 or keys is None)]
        if wrong:
            return [f"{what}: {path}: {wrong[0].name} is not a list whose elements a plan names by key"]
        if keys is not None and tuple(k for k, _ in steps[2].keys) != keys:
            example = ",".join(f"{k}=<{k}>" for k in keys)
            return [f"{what}: {path}: name one element of {names[2]} by {', '.join(keys)}, as "
                    f"{names[2]}[{example}]: AWS reorders the list"]
        if keys is not None and len(names) > 3 and names[3] in keys:
            return [f"{what}: {path}: {names[3]} names the element; a plan does not rename it (AWS would drop "
                    "the element and make another): remove it and add the new one"]
        return []

    def doors(self, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> list[str]:
        what = f"{self.rules.what} {_name(before)}".rstrip()
        return [f"{what}: {door}" for door in _managed_doors(self.key, before, after, changes)]

    def untouchable(self, obj: dict[str, Any]) -> str:
        meta = obj.get("metadata") or {}
        composite = (meta.get("labels") or {}).get(COMPOSITE_LABEL)
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if composite or owner:
            by = f"{owner.get('kind')} {owner.get('name')}" if owner else f"composite {composite}"
            return (f"is composed by {by}, which would overwrite a change at its next reconcile: change that "
                    "composite instead")
        return tapplatform.untouchable(obj)

    def caught_up(self, obj: dict[str, Any], changes: Changes, since: dt.datetime, manager: str,
                  written: str = "") -> Readiness:
        """Whether the managed resource caught up with `changes` (path to the value set) made at
        `since`: upjet's conditions for its current generation (`managed.caught_up`), every
        scalar forProvider field set read back in atProvider, every keyed element set or removed
        there too. Its conditions carry observedGeneration, so neither our write's time
        (`manager`) nor its resourceVersion (`written`) is needed, as they are for ACK."""
        what = f"{self.rules.what} {_name(obj)}".rstrip()
        leaves = {tuple(s.name for s in keyed.steps(p))[2:]: v for p, v in changes.items()
                  if not any(s.keys for s in keyed.steps(p)) and v is not ABSENT and not isinstance(v, dict | list)}
        caught = managed.caught_up(what, obj, leaves, since)
        if caught.state != "Ready":
            return caught
        behind = [f"{path} is not yet {'gone' if v is ABSENT else 'there'} in status.atProvider"
                  for path, v in sorted(changes.items()) if any(s.keys for s in keyed.steps(path))
                  and not self._reported(obj, path, v)]
        return Readiness("Waiting", f"{what}: {'; '.join(behind)}") if behind else caught

    def _reported(self, obj: dict[str, Any], path: str, value: Any) -> bool:
        """Whether atProvider reports a keyed element as set (present, holding the value) or
        removed; a list AWS does not report says nothing."""
        at = {"spec": {"forProvider": ((obj.get("status") or {}).get("atProvider")) or {}}}
        if keyed.get(at, path.split("[", 1)[0]) is ABSENT:
            return True
        return self.holds(keyed.get(at, path), value)

    def observe_only(self, obj: dict[str, Any]) -> str:
        policies = (obj.get("spec") or {}).get("managementPolicies") or ["*"]
        if "*" in policies or "Update" in policies:
            return ""
        return (f"has spec.managementPolicies {policies} without Update: Crossplane would not apply a change; "
                "add Update (or *) to let a plan change it")


def _overlap(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return a[:len(b)] == b or b[:len(a)] == a


def _managed_doors(key: str, before: dict[str, Any], after: dict[str, Any], changes: Changes) -> Iterator[str]:
    """An upjet table's one-way doors: a GSI removed (re-adding rebuilds it from the table), a
    replica removed, the stream disabled or its view type changed (either makes a new stream ARN)."""
    if key != "dynamodb/Table":
        return
    for path, value in sorted(changes.items()):
        if value is ABSENT and schema_path(path)[:3] == (*FOR_PROVIDER, "globalSecondaryIndex"):
            yield f"removing {path} drops the index; restoring it rebuilds it from the table"
        elif value is ABSENT and schema_path(path)[:3] == (*FOR_PROVIDER, "replica"):
            yield f"removing {path} deletes that replica; restoring it copies the table again"
    stream, view = "/spec/forProvider/streamEnabled", "/spec/forProvider/streamViewType"
    if keyed.get(before, stream) is True and keyed.get(after, stream) is not True:
        yield "disabling the stream ends it; re-enabling makes a new stream ARN"
    elif keyed.get(before, stream) is True and keyed.get(before, view) != keyed.get(after, view):
        yield ("changing the stream's view type replaces the stream (DynamoDB disables it and enables a new one): "
               "a new stream ARN its consumers must be pointed at")


TargetKind = TapPlatformKind | AckTargetKind | ManagedTargetKind


@functools.cache
def supported() -> tuple[tuple[str, str], ...]:
    """Every kind an adapter can change, the TapPlatform first, then by apiVersion and kind."""
    acks = {(f"{group}/{ACK_VERSION}", kind) for group, kind in ack.KINDS}
    upjet = {(f"{service}.{MANAGED_GROUP}/{MANAGED_VERSION}", kind)
             for service, _, kind in (key.partition("/") for key in managed.RULES)}
    return (TAPPLATFORM, *sorted(acks | upjet))


def of(api_version: str, kind: str, crd: dict[str, Any] | None = None) -> TargetKind | None:
    """The adapter of a kind (with its CRD, for the kinds that need one), or None when no plan may
    target it."""
    if (api_version, kind) == TAPPLATFORM:
        return TapPlatformKind()
    found = ack.adapter(api_version, kind)
    if found is not None and api_version.endswith("/v1alpha1"):
        return AckTargetKind(api_version, kind, crd, adapter=found)
    group = api_version.partition("/")[0]
    rules = managed.RULES.get(f"{group.split('.')[0]}/{kind}")
    if group.endswith(UPJET_SUFFIX) and group.count(".") == 4 and rules is not None and rules.changeable:
        return ManagedTargetKind(api_version, kind, crd, rules=rules)
    return None

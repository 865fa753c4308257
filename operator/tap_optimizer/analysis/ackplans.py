"""Recommendations into OptimizationPlans for ACK objects: one plan per object, paths into its spec.

The rules are the TapPlatform's (rules/registry.py): each ACK object (or Aurora cluster) is
judged as an inventory whose `parameters` are what a TapPlatform would say of it (ackdiscovery.py),
and their changes, pointers under /spec/parameters, are mapped here to keyed pointers into the
ACK object that holds that setting (`CHANGES`). What has no ACK field, or whose object is not
one a plan may change, is reported as unwritable, never dropped silently:
- a fleet's instance type lives in its ec2 LaunchTemplate (not a kind plans change): the whole
  fleet recommendation, whose sizes are computed for that type, is unwritable;
- an Aurora reader count is a number of DBInstance objects (a plan patches, it does not delete);
- a desired capacity is left to the group's scaling policies (ack.md 1.2): it is not written.

A phase holds one recommendation kind per target; the fields an ACK kind changes in separate
modifications (`AckKind.exclusive`: a replication group's node type, shards, replicas) each get a
phase of their own, in the rule's order. A phase is written only if `targets.ack.change_problems`
accepts it for the object against its CRD (when the CRD is known), and requires approval when a
recommendation says it is irreversible or `targets.ack.one_way_doors` finds a door in it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_optimizer.analysis.document import PHASES, Change, Recommendation
from tap_optimizer.analysis.inventory import Inventory
from tap_optimizer.analysis.planwriter import plan_changes, plan_gates, plan_name
from tap_optimizer.platform import pointer
from tap_optimizer.platform.pointer import ABSENT
from tap_optimizer.targets import ack
from tap_optimizer.targets.ack_kinds import AckKind, schema_path

PLAN_API_VERSION, PLAN_KIND = "optimization.tap.io/v1alpha1", "OptimizationPlan"
EXCLUSIVE_PHASES = {"cacheNodeType": "cache-node-type", "numNodeGroups": "cache-shards",
                    "replicasPerNodeGroup": "cache-replicas", "nodeGroupConfiguration": "cache-node-groups"}


@dataclass(frozen=True)
class Target:
    """An ACK object of a supported kind, with its AWS identity as ACK reports it."""

    obj: dict[str, Any]
    adapter: AckKind
    arn: str
    region: str

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace") or "default")

    @property
    def ref(self) -> str:
        return f"{self.adapter.kind} {self.namespace}/{self.name}"


@dataclass(frozen=True)
class Unit:
    """One inventory the rules judge, and the ACK object holding each of its settings (the first
    tokens under /spec/parameters: `tables/<key>`, `compute`, `cache`, `database/<setting>`).
    `current` holds the settings as AWS has them now (a change to the same value is no change)."""

    inventory: Inventory
    owners: Mapping[str, Target]
    current: Mapping[str, Any] = field(default_factory=dict)


Mapped = tuple[str, Any] | None  # (ACK path, value or ABSENT), or None: not written, on purpose
Mapper = Callable[[list[str], Change], Mapped]


def _gsi(tokens: list[str], change: Change) -> Mapped:
    return f"/spec/globalSecondaryIndexes[indexName={tokens[3]}]", ABSENT


def _to(path: str) -> Mapper:
    return lambda tokens, change: (path, change.get("value", ABSENT))


# parameter path (tokens, `*` any one) -> where the ACK object holds it; None: not written
CHANGES: dict[tuple[str, ...], Mapper | None] = {
    ("tables", "*", "globalSecondaryIndexes", "*"): _gsi,
    ("tables", "*", "streamEnabled"): _to("/spec/streamSpecification/streamEnabled"),
    ("compute", "minSize"): _to("/spec/minSize"),
    ("compute", "maxSize"): _to("/spec/maxSize"),
    ("compute", "desiredCapacity"): None,
    ("cache", "nodeType"): _to("/spec/cacheNodeType"),
    ("cache", "shards"): _to("/spec/numNodeGroups"),
    ("cache", "replicasPerShard"): _to("/spec/replicasPerNodeGroup"),
    ("database", "writerInstanceClass"): _to("/spec/dbInstanceClass"),
    ("database", "backupRetentionDays"): _to("/spec/backupRetentionPeriod"),
}
NOT_WRITTEN: dict[tuple[str, ...], str] = {
    ("compute", "instanceType"): "the instance type lives in the group's ec2 LaunchTemplate, which is not a kind "
                                 "a plan changes; the group's sizes were computed for that type, so none is written: "
                                 "change the LaunchTemplate's spec.data.instanceType and the sizes by hand",
    ("database", "readerCount"): "an Aurora reader is a DBInstance object: a plan patches objects, it does not "
                                 "delete them; delete the reader's DBInstance to apply it",
    ("database", "secondaryRegions"): "secondary regions are GlobalCluster members, not a field of a supported kind",
}
DROPPED: dict[tuple[str, ...], str] = {
    ("compute", "desiredCapacity"): "left to the group's scaling policies (ack.md 1.2)"}


def _match(tokens: list[str], table: Mapping[tuple[str, ...], Any]) -> tuple[str, ...] | None:
    return next((k for k in table if len(k) == len(tokens)
                 and all(p in ("*", t) for p, t in zip(k, tokens, strict=True))),
                None)


def _owner_key(tokens: list[str]) -> str:
    return "/".join(tokens[:2]) if tokens[0] in ("tables", "database") else tokens[0]


@dataclass
class Written:
    """What the recommendations of a run become: per target, its phases (name, recommendations'
    plan changes, whether irreversible); and what could not be written, with why."""

    phases: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # {name, changes, irreversible}
    targets: dict[str, Target] = field(default_factory=dict)
    unwritable: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, rec: Recommendation, why: str) -> None:
        self.unwritable.append({"rule": rec["rule"], "resource": rec["resource"], "region": rec["region"],
                                "changes": rec["changes"], "projectedMonthlySavings": rec["projectedMonthlySavings"],
                                "reason": why})


def translate(unit: Unit, rec: Recommendation, written: Written) -> None:
    """Map one recommendation of `unit` to its target's phases in `written` (or refuse it)."""
    mapped: list[Change] = []
    owner: Target | None = None
    for change in rec["changes"]:
        tokens = pointer.tokens(change["path"])  # under /spec/parameters
        if (key := _match(tokens, NOT_WRITTEN)) is not None:
            return written.refuse(rec, NOT_WRITTEN[key])
        rule = _match(tokens, CHANGES)
        if rule is None:
            return written.refuse(rec, f"{change['path']} has no field in a supported ACK kind")
        if CHANGES[rule] is None:
            written.notes.append(f"{rec['resource']}: {'/'.join(tokens)} {change.get('value')} not written: "
                                 f"{DROPPED.get(rule, 'no ACK field')}")
            continue
        target = unit.owners.get(_owner_key(tokens))
        if target is None:
            return written.refuse(rec, f"no ACK object in reach holds {'/'.join(tokens)} (not listed, or skipped)")
        owner = target
        path, value = CHANGES[rule](tokens, change)  # type: ignore[misc]
        if value is not ABSENT and unit.current.get("/".join(tokens)) == value:
            continue  # already so in AWS: no change
        mapped.append({"op": "remove", "path": path} if value is ABSENT else {"op": "replace", "path": path,
                                                                              "value": value})
    if owner is None or not mapped:
        return None
    written.targets[owner.ref] = owner
    phases = written.phases.setdefault(owner.ref, [])
    for name, changes in _split(owner.adapter, rec["phase"], mapped):
        planned = plan_changes({**rec, "changes": changes})
        same = next((p for p in phases if p["name"] == name and name not in EXCLUSIVE_PHASES.values()), None)
        if same is None:
            phases.append({"name": name, "changes": planned, "irreversible": rec["irreversible"]})
        else:
            same["changes"] += planned
            same["irreversible"] = same["irreversible"] or rec["irreversible"]
        rec = {**rec, "projectedMonthlySavings": 0.0}  # the savings count once, on the first phase
    return None


def _split(adapter: AckKind, phase: str, changes: list[Change]) -> list[tuple[str, list[Change]]]:
    """The changes in the recommendation's phase, but each of the kind's exclusive fields in a
    phase of its own (AWS applies them as separate modifications)."""
    out: list[tuple[str, list[Change]]] = []
    for change in changes:
        fld = schema_path(change["path"])[:2]
        if fld in adapter.exclusive:
            out.append((EXCLUSIVE_PHASES.get(fld[1], fld[1].lower()), [change]))
        elif out and out[0][0] == phase:
            out[0][1].append(change)
        else:
            out.insert(0, (phase, [change]))
    return out


def _order(name: str) -> int:
    base = {"cache-node-type": "compute", "cache-shards": "cache-topology", "cache-replicas": "cache-topology"}
    return PHASES.index(base.get(name, name)) if base.get(name, name) in PHASES else len(PHASES)


def plans(written: Written, crds: Mapping[tuple[str, str], dict[str, Any]] | None, *, date: str,
          prometheus_url: str, gates: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One OptimizationPlan per target with a phase left after the checks: `change_problems`
    against the kind's CRD when `crds` (by (group, kind)) is given, else unchecked; refused phases
    go to `written.unwritable`."""
    out = []
    for ref, found in written.phases.items():
        target = written.targets[ref]
        crd = (crds or {}).get((target.adapter.group, target.adapter.kind))
        phases = []
        for name, changes, irreversible in ((p["name"], p["changes"], p["irreversible"])
                                            for p in sorted(found, key=lambda p: _order(p["name"]))):
            wanted = {c["path"]: c.get("value", ABSENT) if c["op"] != "remove" else ABSENT for c in changes}
            problems = ack.change_problems(target.adapter, crd, target.obj, wanted) if crd is not None else []
            if problems:
                written.unwritable.append({"target": ref, "phase": name, "changes": changes,
                                           "reason": "; ".join(problems)})
                continue
            doors = ack.one_way_doors(target.adapter, target.obj, wanted)
            phases.append({"name": name, "requiresApproval": irreversible or bool(doors), "changes": changes})
        if phases:
            out.append(plan(target, phases, date=date, prometheus_url=prometheus_url, gates=gates))
    return out


def plan(target: Target, phases: list[dict[str, Any]], *, date: str, prometheus_url: str,
         gates: dict[str, Any] | None) -> dict[str, Any]:
    meta = target.obj["metadata"]
    return {
        "apiVersion": PLAN_API_VERSION, "kind": PLAN_KIND,
        "metadata": {"name": plan_name(f"{target.adapter.kind.lower()}-{meta['name']}", date),
                     "namespace": target.namespace},
        "spec": {"targetRef": {"apiVersion": target.obj["apiVersion"], "kind": target.adapter.kind,
                               "name": meta["name"]},
                 "gates": plan_gates(gates, prometheus_url), "phases": phases},
    }

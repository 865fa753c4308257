"""A stand-in for the ACK controllers (rds, elasticache, dynamodb, autoscaling) on the local cluster
(`cluster.Cluster`, which serves the ACK CRDs when given the schemas directory).

It behaves as `../shared/reference/ack.md` 1.3 says ACK does, which is what the ACK adapters
(`targets/ack.py`) must read correctly:
- a reconcile runs when the spec's generation changed, and again and again (a requeue) while the
  object is not synced; each one rewrites every condition, without observedGeneration, stamping
  lastTransitionTime now, in whole seconds as the API server serialises it;
- it keeps what "AWS" has per object, and writes the spec back from it: a Table's GSIs in AWS's
  order (by name) with the fields AWS fills in (a GSI's provisioned throughput); while a change
  is in flight, a DBInstance's spec shows the pending values (rds-controller#151);
- status per kind: `dbInstanceStatus` / `status` `modifying` with `pendingModifiedValues` for as
  long as `slow` says, then `available`; a Table `UPDATING` with its GSIs CREATING or DELETING
  (ResourceSynced Unknown meanwhile); a replication group's node groups;
- a change "AWS" refuses (`refuse`: name -> AWS's error) is `ACK.Terminal=True` quoting it with
  ResourceSynced False; one it fails to make for now (`recoverable`) is `ACK.Recoverable=True` with
  ResourceSynced Unknown, retried; asked back to what AWS has, the object is synced again;
- an object annotated `services.k8s.aws/read-only: "true"` appears synced and nothing changes.
Knobs are keyed by object name, as the Crossplane stand-in's are by composition resource name.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import pathlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from kubernetes.client.rest import ApiException

from tap_optimizer.cluster import plural
from tap_optimizer.targets.ack import KINDS, READ_ONLY, RECOVERABLE, SYNCED, TERMINAL
from tap_optimizer_local.cluster import Cluster, Controller

VERSION = "v1alpha1"
PENDING = {"DBInstance": ("dbInstanceClass", "backupRetentionPeriod", "engineVersion", "allocatedStorage", "multiAZ"),
           "DBCluster": ("backupRetentionPeriod", "engineVersion", "allocatedStorage")}  # as their status schemas
FILLED_THROUGHPUT = {"readCapacityUnits": 0, "writeCapacityUnits": 0}  # DescribeTable's for an on-demand GSI
Key = tuple[str, str, str]  # kind, namespace, name
Condition = tuple[str, str, str]  # type, status, message


@dataclass
class Modification:
    """A modification AWS is making: what it will have, and when it is done."""

    wanted: dict[str, Any]
    done_at: float


class Ack(Controller):
    """Reconciles every ACK object of the adapters' kinds, as the ACK controllers would."""

    def __init__(self, cluster: Cluster, period: float = 0.2):
        super().__init__("ack", period)
        self.cluster = cluster
        self.refuse: dict[str, str] = {}  # object name -> the error of a terminal code AWS answers a change with
        self.recoverable: dict[str, str] = {}  # object name -> an error AWS answers for now (ACK retries)
        self.slow: dict[str, float] = {}  # object name -> seconds AWS takes to make a change
        self.aws: dict[Key, dict[str, Any]] = {}  # what AWS has, as DescribeX reports it
        self.changing: dict[Key, Modification] = {}
        self.reconciled: dict[Key, int] = {}  # the generation each object was last reconciled at, while synced

    def tick(self) -> None:
        for group, kind in KINDS:
            listing = cast(dict[str, Any], self.cluster.custom.list_cluster_custom_object(group, VERSION, plural(kind)))
            for obj in listing["items"]:
                with contextlib.suppress(ApiException):
                    self.reconcile(obj)

    def reconcile(self, obj: dict[str, Any]) -> None:
        """One reconcile, if the spec changed or the object is not synced (a requeue)."""
        meta = obj["metadata"]
        key: Key = (obj["kind"], meta["namespace"], meta["name"])
        if self.reconciled.get(key) == meta.get("generation"):
            return
        desired = aws_form(obj["kind"], obj["spec"])
        self.aws.setdefault(key, desired)  # a new object: AWS creates it as asked (or has it, if adopted)
        if (meta.get("annotations") or {}).get(READ_ONLY) == "true":
            self._settle(obj, key, [(SYNCED, "True", "")])  # "resource is read-only - skipping update"
            return
        self._finish(key)
        if desired != self.aws[key] and key not in self.changing:
            error = self._modify(key, desired)
            if error is not None and error[0] == TERMINAL:  # not retried until the spec changes
                self._settle(obj, key, [error, (SYNCED, "False", error[2])])
                return
            if error is not None:
                self._write(obj, key, [error, (SYNCED, "Unknown", error[2])])
                return
        generation = self._write_back(obj, key)
        synced = key not in self.changing
        self._write(obj, key, [(SYNCED, "True" if synced else _unsynced(obj["kind"]), "")])
        if synced:
            self.reconciled[key] = generation

    def _modify(self, key: Key, desired: dict[str, Any]) -> Condition | None:
        """Ask AWS for the change: its refusal as a condition, or None when it takes it."""
        name = key[2]
        if name in self.refuse:
            return (TERMINAL, "True", self.refuse[name])
        if name in self.recoverable:
            return (RECOVERABLE, "True", self.recoverable[name])
        self.changing[key] = Modification(desired, time.monotonic() + self.slow.get(name, 0.0))
        self._finish(key)
        return None

    def _finish(self, key: Key) -> None:
        change = self.changing.get(key)
        if change is not None and time.monotonic() >= change.done_at:
            self.aws[key] = change.wanted
            del self.changing[key]

    def _write_back(self, obj: dict[str, Any], key: Key) -> int:
        """Merge-patch the spec from what AWS has (pending values while a change runs), as
        `patchResourceMetadataAndSpec` does, only when it differs; the generation it leaves."""
        change = self.changing.get(key)
        spec = change.wanted if change is not None else self.aws[key]
        if spec == obj["spec"]:
            return int(obj["metadata"].get("generation", 1))
        group, _ = obj["apiVersion"].split("/")
        stored = cast(dict[str, Any], self.cluster.custom.patch_namespaced_custom_object(
            group, VERSION, key[1], plural(key[0]), key[2], {"spec": {**{k: None for k in obj["spec"]}, **spec}}))
        return int(stored["metadata"].get("generation", 1))

    def _settle(self, obj: dict[str, Any], key: Key, conditions: list[Condition]) -> None:
        self._write(obj, key, conditions)
        self.reconciled[key] = int(obj["metadata"].get("generation", 1))

    def _write(self, obj: dict[str, Any], key: Key, conditions: list[Condition]) -> None:
        """Every condition anew, stamped now, none with observedGeneration; the kind's status."""
        group, _ = obj["apiVersion"].split("/")
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        written = [{"type": kind, "status": status, "message": message, "lastTransitionTime": now}
                   for kind, status, message in (*conditions, _ready(conditions))]
        status = {**kind_status(key[0], self.aws.get(key, obj["spec"]), self.changing.get(key)),
                  "conditions": written}
        self.cluster.custom.patch_namespaced_custom_object_status(group, VERSION, key[1], plural(key[0]), key[2],
                                                                  {"status": status})


def _ready(conditions: list[Condition]) -> Condition:
    """The summary `Ready` (runtime v0.53): False while Terminal or Recoverable, else ResourceSynced."""
    held = {kind: (status, message) for kind, status, message in conditions}
    for kind in (TERMINAL, RECOVERABLE):
        if held.get(kind, ("",))[0] == "True":
            return ("Ready", "False", held[kind][1])
    return ("Ready", *held.get(SYNCED, ("Unknown", "")))


def _unsynced(kind: str) -> str:
    """ResourceSynced while AWS is still changing: a Table's read requeues (Unknown); the
    autoscaling controller's IsSynced is always true; the others compare AWS's status (False)."""
    return {"Table": "Unknown", "AutoScalingGroup": "True"}.get(kind, "False")


def aws_form(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as ACK reads it back from AWS: a Table's GSIs in AWS's order with the throughput
    AWS reports for each; everything else as given."""
    out = copy.deepcopy(spec)
    if kind == "Table" and out.get("globalSecondaryIndexes"):
        out["globalSecondaryIndexes"] = sorted(
            ({"provisionedThroughput": dict(FILLED_THROUGHPUT), **index} for index in out["globalSecondaryIndexes"]),
            key=lambda index: str(index.get("indexName")))
    return out


def kind_status(kind: str, has: dict[str, Any], change: Modification | None) -> dict[str, Any]:
    """The status fields of each kind while a change runs and after (ack.md 1.2, "applied")."""
    pending = {k: change.wanted[k] for k in PENDING.get(kind, ()) if k in change.wanted
               and has.get(k) != change.wanted[k]} if change else None
    state = "modifying" if change else "available"
    if kind == "DBInstance":
        return {"dbInstanceStatus": state, "pendingModifiedValues": pending}
    if kind == "DBCluster":
        return {"status": state, "pendingModifiedValues": pending}
    if kind == "ReplicationGroup":
        groups = int(has.get("numNodeGroups") or 1)
        return {"status": state, "nodeGroups": [{"nodeGroupID": f"{i + 1:04d}", "status": state}
                                                for i in range(groups)]}
    if kind == "Table":
        return {"tableStatus": "UPDATING" if change else "ACTIVE",
                "globalSecondaryIndexesDescriptions": _described(has, change)}
    return {}


def _described(has: dict[str, Any], change: Modification | None) -> list[dict[str, Any]]:
    """DescribeTable's GSIs: those AWS has, ACTIVE, or DELETING if the change drops them; the
    change's new ones CREATING."""
    now = {i["indexName"] for i in has.get("globalSecondaryIndexes") or []}
    wanted = {i["indexName"] for i in (change.wanted if change else has).get("globalSecondaryIndexes") or []}
    return [{"indexName": name, "indexStatus": "ACTIVE" if name in now and name in wanted
             else "DELETING" if name in now else "CREATING"} for name in sorted(now | wanted)]


@contextlib.contextmanager
def local_ack(schemas: pathlib.Path) -> Iterator[tuple[Cluster, Ack]]:
    """The API server with the ACK CRDs from `schemas` (its `ack/` directory), and the stand-in."""
    with Cluster(schemas) as cluster, Ack(cluster) as ack:
        yield cluster, ack

"""A local stand-in cluster: our API server (kmock, made faithful) in a thread, loaded with our
CRDs, the XRD and the upstream managed-resource CRDs, and a stand-in for Crossplane and the AWS
provider that reconciles TapPlatforms with our own composition function.

No Crossplane can run here. The stand-in does what the operator depends on: render the desired
managed resources (with our renderer), create, update and delete them, and report `Synced` and
`Ready` on them and on the TapPlatform for the generation it reconciled. A test can make the
provider refuse a change to one composed resource, as provider-upjet-aws refuses an update that
would force replacement.

Given moto's Auto Scaling backends (`aws`, region -> backend), it also does what Terraform's
`aws_autoscaling_group` does on an update that changes the launch template of a group with an
`instanceRefresh` block: cancel the group's active instance refresh, if any, and start one
(StartInstanceRefresh with the block's strategy and preferences, no desired configuration), in
the group's region under its external name. The refresh runs `refresh_seconds`, then succeeds, or
fails with StatusReason `refresh_fails` when that is set (moto_aws.py answers for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import pathlib
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Self

import kmock
import kubernetes
import yaml
from kubernetes.client.rest import ApiException

from tap_optimizer.cluster import PLAN, PLATFORM, plural
from tap_optimizer.composition.render.platform import InvalidPlatformError, render_platform
from tap_optimizer.plan.spec import crd as plan_crd
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM, xrd
from tap_optimizer.targets.ack import KINDS as ACK_KINDS
from tap_optimizer_local import moto_aws
from tap_optimizer_local.apiserver import ApiServer
from tap_optimizer_local.processes import wait_until

EXTERNAL_NAME = "crossplane.io/external-name"
REFUSAL = ("refuse to update the external resource because the following update requires replacing it: "
           "[instance_class]")


class Cluster:
    """The API server on 127.0.0.1, for the operator (a kubeconfig) and for tests (a client)."""

    def __init__(self, schemas: pathlib.Path | None = None) -> None:
        self.schemas = schemas
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="apiserver", daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.stop_event: asyncio.Event | None = None
        self.url = ""
        self.server: ApiServer | None = None
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="tap-cluster-"))

    def __enter__(self) -> Cluster:
        self.thread.start()
        if not self.ready.wait(30):
            raise TimeoutError("API server did not start")
        configuration = kubernetes.client.Configuration()
        configuration.host = self.url
        self.api = kubernetes.client.ApiClient(configuration)
        self.custom = kubernetes.client.CustomObjectsApi(self.api)
        self.core = kubernetes.client.CoreV1Api(self.api)
        return self

    def __exit__(self, *_: object) -> None:
        assert self.loop is not None and self.stop_event is not None
        self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(10)

    def _serve(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self.stop_event = asyncio.Event()
        async with ApiServer() as server, kmock.Server(server) as endpoint:
            self.server = server
            for crd in (plan_crd(), xrd(), *managed_resource_crds(self.schemas)):
                server.add_crd(crd)
            self.url = str(endpoint.url).rstrip("/")
            self.ready.set()
            await self.stop_event.wait()

    def kubeconfig(self) -> pathlib.Path:
        path = self.workdir / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "local",
            "clusters": [{"name": "local", "cluster": {"server": self.url}}],
            "users": [{"name": "local", "user": {"token": "local"}}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "local"}}],
        }))
        return path

    # -- convenience for tests ------------------------------------------------------------------

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        group, version = obj["apiVersion"].split("/")
        return self.custom.create_namespaced_custom_object(group, version, obj["metadata"]["namespace"],
                                                           _plural_of(obj), obj)

    def get(self, kind: tuple[str, str, str], namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(kind[0], kind[1], namespace, kind[2], name)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def create_platform(self, xr: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Create a TapPlatform and wait until the Crossplane stand-in made it Ready."""
        self.create(xr)
        namespace, name = xr["metadata"]["namespace"], xr["metadata"]["name"]
        wait_until(lambda: _condition(self.platform(namespace, name) or {}, "Ready").get("status") == "True",
                   timeout, f"TapPlatform {namespace}/{name} Ready")
        return self.platform(namespace, name)

    def plan(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(PLAN, namespace, name)

    def platform(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.get(PLATFORM, namespace, name)

    def wait_for(self, namespace: str, name: str, *states: str, timeout: float = 60) -> dict[str, Any]:
        """Poll the plan until it reaches one of states."""
        deadline = time.monotonic() + timeout
        plan = None
        while time.monotonic() < deadline:
            plan = self.plan(namespace, name)
            if plan and (plan.get("status") or {}).get("state") in states:
                return plan
            time.sleep(0.2)
        raise AssertionError(f"plan {name} never reached {states}: {(plan or {}).get('status')}")

    def events(self, namespace: str) -> list[dict[str, Any]]:
        return [e.to_dict() for e in self.core.list_namespaced_event(namespace).items]


def _plural_of(obj: dict[str, Any]) -> str:
    return {"OptimizationPlan": PLAN[2], "TapPlatform": PLATFORM[2]}.get(obj["kind"]) or plural(obj["kind"])


def managed_resource_crds(schemas: pathlib.Path | None) -> list[dict[str, Any]]:
    """The namespaced provider-upjet-aws CRDs and the ACK CRDs from `schemas` (the upstream
    schemas the tests have), so composed resources and ACK objects are validated too; without
    them, schemaless CRDs for the kinds the composition renders and the ACK kinds, which is all the
    demo needs."""
    if schemas is not None:
        files = [*(schemas / "provider-aws").glob("*.aws.m.upbound.io_*.yaml"),
                 *(schemas / "ack").glob("*.services.k8s.aws_*.yaml")]
        return [yaml.load(p.read_text(), Loader=yaml.CSafeLoader) for p in sorted(files)]
    kinds = _rendered_kinds() | {(f"{group}/v1alpha1", kind) for group, kind in ACK_KINDS}
    return [_schemaless_crd(api_version, kind) for api_version, kind in sorted(kinds)]


def _rendered_kinds() -> set[tuple[str, str]]:
    xr = yaml.safe_load(REFERENCE_PLATFORM.read_text())
    return {(obj["apiVersion"], obj["kind"]) for obj in render_platform(xr).values()}


def _schemaless_crd(api_version: str, kind: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural(kind)}.{group}"},
            "spec": {"group": group, "scope": "Namespaced",
                     "names": {"kind": kind, "plural": plural(kind), "singular": kind.lower()},
                     "versions": [{"name": version, "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object",
                                                                  "x-kubernetes-preserve-unknown-fields": True}}}]}}


class Controller:
    """A stand-in controller: `tick` every `period` seconds in its own thread, inside a `with`."""

    def __init__(self, name: str, period: float):
        self.period = period
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        self.thread.join(10)

    def _run(self) -> None:
        while not self.stopping.wait(self.period):
            self.tick()

    def tick(self) -> None:
        raise NotImplementedError


class Crossplane(Controller):
    """Reconciles every TapPlatform like Crossplane with our function and the AWS provider would."""

    def __init__(self, cluster: Cluster, period: float = 0.2):
        super().__init__("crossplane", period)
        self.cluster = cluster
        self.refuse: set[str] = set()  # composition resource names whose updates the provider refuses
        # composition resource names whose updates run asynchronously (as upjet's Terraform applies
        # do): seconds each takes, and the error it ends with (None: it succeeds)
        self.slow: dict[str, tuple[float, str | None]] = {}
        self.running: dict[tuple[str, str], tuple[float, dict[str, Any], str | None]] = {}
        self.external: dict[tuple[str, str], dict[str, Any]] = {}  # what "AWS" has: the last accepted spec
        self.versions: dict[tuple[str, str], int] = {}  # a launch template's latest version
        self.keys: dict[tuple[str, str], str] = {}  # each composed resource's composition resource name
        self.seen: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}  # per XR: generation and observed rendered
        self.paused = False
        # AWS for the instance refreshes: moto's Auto Scaling backend of a region (None: none are started)
        self.aws: Callable[[str], Any] | None = None
        self.refresh_seconds = 0.5  # how long an instance refresh runs
        self.refresh_fails: str | None = None  # the StatusReason it fails with (None: it succeeds)
        self.composed: dict[tuple[str, str], set[tuple[str, str, str]]] = {}
        self.applied: dict[tuple[str, str], dict[str, Any]] = {}  # what each composed resource was last given

    def tick(self) -> None:
        if self.paused:
            return
        for xr in self.cluster.custom.list_cluster_custom_object(*PLATFORM)["items"]:
            with contextlib.suppress(ApiException):
                self.reconcile(xr)

    def reconcile(self, xr: dict[str, Any]) -> None:
        generation = xr["metadata"].get("generation", 1)
        namespace = xr["metadata"]["namespace"]
        self._finish_async(namespace)
        observed, ready = self._observed(namespace, xr), _condition(xr, "Ready")
        seen = (generation, observed)
        if ready.get("observedGeneration") == generation and ready.get("status") == "True" and \
                self.seen.get((namespace, xr["metadata"]["name"])) == seen:
            return  # nothing new: neither the spec nor what AWS reports (a render costs ~45 ms)
        try:
            desired = render_platform(xr, observed)
        except InvalidPlatformError as invalid:
            self._set_status(xr, generation, synced=("False", "ReconcileError", str(invalid)), ready="False")
            return
        stale = {key: obj for key, obj in desired.items()
                 if self.applied.get((namespace, obj["metadata"]["name"])) != obj or key in self.refuse}
        self.seen[(namespace, xr["metadata"]["name"])] = seen
        if ready.get("observedGeneration") == generation and ready.get("status") == "True" and not stale:
            return
        refused = [self._apply(namespace, key, obj) for key, obj in stale.items()]
        self._prune(xr, namespace, desired)
        self._set_status(xr, generation, synced=("True", "ReconcileSuccess", ""),
                         ready="False" if any(refused) else "True")

    def _observed(self, namespace: str, xr: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The platform's composed resources as the function sees them, by composition resource
        name: what AWS reports (`atProvider`)."""
        mine = self.composed.get((namespace, xr["metadata"]["name"]), set())
        return {self.keys[(namespace, name)]: {"status": {"atProvider": self._at_provider(namespace, name)}}
                for _, _, name in mine if (namespace, name) in self.keys}

    def _at_provider(self, namespace: str, name: str) -> dict[str, Any]:
        """What AWS reports back: the accepted forProvider without references; a launch
        template's latest version counts the changes it accepted."""
        found = _without_references(self.external.get((namespace, name), {}))
        if (namespace, name) in self.versions:
            found["latestVersion"] = self.versions[(namespace, name)]
        return found

    def _accept(self, namespace: str, name: str, kind: str, wanted: dict[str, Any]) -> None:
        """AWS now has `wanted`; a launch template makes a new version of a changed template, and a
        group's changed launch template starts its instance refresh."""
        before = self.external.get((namespace, name))
        if kind == "LaunchTemplate" and before != wanted:
            self.versions[(namespace, name)] = self.versions.get((namespace, name), 0) + 1
        if kind == "AutoscalingGroup" and before is not None and wanted.get("instanceRefresh") and \
                before.get("launchTemplate") != wanted.get("launchTemplate"):
            self._refresh(namespace, name, wanted)
        self.external[(namespace, name)] = wanted

    def _refresh(self, namespace: str, name: str, wanted: dict[str, Any]) -> None:
        """Terraform's update of a group with `instance_refresh`: cancel the active refresh, start one."""
        applied = self.applied.get((namespace, name)) or {}
        group = ((applied.get("metadata") or {}).get("annotations") or {}).get(EXTERNAL_NAME, name)
        if self.aws is None or not wanted.get("region"):
            return
        backend = self.aws(wanted["region"])
        with contextlib.suppress(moto_aws.ActiveInstanceRefreshNotFoundError):
            moto_aws.cancel_refresh(backend, group)
        block = wanted["instanceRefresh"]
        moto_aws.start_refresh(backend, group, self.refresh_seconds, self.refresh_fails,
                               strategy=block.get("strategy", "Rolling"), preferences=_preferences(block))

    def _finish_async(self, namespace: str) -> None:
        """End the asynchronous updates whose time has come: AWS takes the change, or not."""
        for (ns, name), (deadline, wanted, error) in list(self.running.items()):
            if ns != namespace or time.monotonic() < deadline:
                continue
            del self.running[(ns, name)]
            applied = self.applied.get((ns, name))
            group, version = (applied or {}).get("apiVersion", "/").split("/")
            obj = applied and self.cluster.get((group, version, plural(applied["kind"])), ns, name)
            if not obj:
                continue
            if error is None:
                self._accept(ns, name, obj["kind"], wanted)
            last = ("True", "Success", "") if error is None else ("False", "ApplyFailure", error)
            self._write_status(ns, obj, [("Synced", ("True", "ReconcileSuccess", "")),
                                         ("Ready", ("True", "Available", "")),
                                         ("AsyncOperation", ("True", "Finished", "")),
                                         ("LastAsyncOperation", last)])

    def _apply(self, namespace: str, key: str, obj: dict[str, Any]) -> bool:
        """Create or update one managed resource; True when the provider refuses the update."""
        group, version = obj["apiVersion"].split("/")
        name = obj["metadata"]["name"]
        self.applied[(namespace, name)] = obj
        self.keys[(namespace, name)] = key
        obj = {**obj, "metadata": {**obj["metadata"], "namespace": namespace}}
        current = self.cluster.get((group, version, plural(obj["kind"])), namespace, name)
        wanted = obj["spec"]["forProvider"]
        if current is None:
            stored = self.cluster.custom.create_namespaced_custom_object(group, version, namespace,
                                                                         plural(obj["kind"]), obj)
        elif current["spec"]["forProvider"] != wanted:
            stored = self.cluster.custom.patch_namespaced_custom_object(
                group, version, namespace, plural(obj["kind"]), name, {"spec": obj["spec"]})
        else:
            stored = current
        # The provider refuses to move the external resource away from what it is; asked back to
        # what it is (a rollback), there is nothing to replace and it is Synced again.
        refused = current is not None and key in self.refuse and wanted != self.external.get((namespace, name))
        slow = self.slow.get(key) if current is not None and wanted != self.external.get((namespace, name)) else None
        if slow is not None:  # upjet: the update runs on; Synced and Ready stay True meanwhile
            self.running[(namespace, name)] = (time.monotonic() + slow[0], wanted, slow[1])
        elif not refused:
            self._accept(namespace, name, obj["kind"], wanted)
        synced = ("False", "ReconcileError", REFUSAL) if refused else ("True", "ReconcileSuccess", "")
        conditions = [("Synced", synced), ("Ready", ("True", "Available", ""))]
        if slow is not None:
            conditions.append(("AsyncOperation", ("False", "Ongoing", "")))
        self._write_status(namespace, stored, conditions)
        return refused

    def _write_status(self, namespace: str, obj: dict[str, Any],
                      conditions: list[tuple[str, tuple[str, str, str]]]) -> None:
        """Conditions at the object's generation (stamped now), and what AWS reports back."""
        group, version = obj["apiVersion"].split("/")
        name, generation = obj["metadata"]["name"], obj["metadata"].get("generation", 1)
        status = {"conditions": [{**_cond(kind, *values), "observedGeneration": generation,
                                  "lastTransitionTime": _now()} for kind, values in conditions],
                  "atProvider": self._at_provider(namespace, name)}
        self.cluster.custom.patch_namespaced_custom_object_status(
            group, version, namespace, plural(obj["kind"]), name, {"status": status})

    def _prune(self, xr: dict[str, Any], namespace: str, desired: dict[str, Any]) -> None:
        """Delete the composed resources the function no longer returns, as Crossplane does."""
        wanted = {(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in desired.values()}
        previous = self.composed.get((namespace, xr["metadata"]["name"]), set())
        for api_version, kind, name in previous - wanted:
            group, version = api_version.split("/")
            with contextlib.suppress(ApiException):
                self.cluster.custom.delete_namespaced_custom_object(group, version, namespace, plural(kind), name)
            for found in (self.applied, self.external, self.versions, self.keys, self.running):
                found.pop((namespace, name), None)
        self.composed[(namespace, xr["metadata"]["name"])] = wanted

    def _set_status(self, xr: dict[str, Any], generation: int, synced: tuple[str, str, str], ready: str) -> None:
        status = {"conditions": [{**_cond("Synced", *synced), "observedGeneration": generation},
                                 {**_cond("Ready", ready, "Available" if ready == "True" else "Creating", ""),
                                  "observedGeneration": generation}]}
        self.cluster.custom.patch_namespaced_custom_object_status(
            *PLATFORM[:2], xr["metadata"]["namespace"], PLATFORM[2], xr["metadata"]["name"], {"status": status})


def _preferences(block: dict[str, Any]) -> dict[str, Any]:
    """The instance_refresh block's preferences as StartInstanceRefresh takes them (RefreshPreferences)."""
    names = {"minHealthyPercentage": "MinHealthyPercentage", "maxHealthyPercentage": "MaxHealthyPercentage",
             "instanceWarmup": "InstanceWarmup", "skipMatching": "SkipMatching", "autoRollback": "AutoRollback",
             "checkpointDelay": "CheckpointDelay", "checkpointPercentages": "CheckpointPercentages",
             "scaleInProtectedInstances": "ScaleInProtectedInstances", "standbyInstances": "StandbyInstances"}
    given = block.get("preferences") or {}
    return {names[k]: v for k, v in given.items() if k in names}


def _without_references(value: Any) -> Any:
    """forProvider as AWS reports it: references and selectors resolve to values the stand-in
    does not know, so they are left out, at every depth."""
    if isinstance(value, dict):
        return {k: _without_references(v) for k, v in value.items() if not k.endswith(("Ref", "Refs", "Selector"))}
    if isinstance(value, list):
        return [_without_references(v) for v in value]
    return value


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _cond(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-11-25T00:00:00Z"}


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions", []) if c.get("type") == kind), {})


@contextlib.contextmanager
def local_cluster(schemas: pathlib.Path | None = None,
                  aws: Callable[[str], Any] | None = None) -> Iterator[tuple[Cluster, Crossplane]]:
    """The cluster and its Crossplane stand-in; given moto's Auto Scaling backends (`aws`, e.g.
    `Moto.autoscaling_backend`), the stand-in starts instance refreshes in them."""
    with Cluster(schemas) as cluster, Crossplane(cluster) as crossplane:
        crossplane.aws = aws
        yield cluster, crossplane

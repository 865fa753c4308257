"""The operator's I/O with the Kubernetes API: plans, their target TapPlatform, the composed
resources a phase changes, and Secrets. Thin: every decision is made in plan/.

Uses the official client (blocking) in worker threads. Every write names our field manager, so
Argo CD can be told to ignore exactly the fields the operator owns. Failed calls are counted in
tap_optimizer_errors_total{system="kubernetes"}, except the answers the caller expects (a 404 on a
read, a 409/422 refusal of a guarded write): those are how optimistic concurrency works.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Collection
from typing import Any

import kubernetes
import urllib3
import yaml
from kubernetes.client.rest import ApiException

from tap_optimizer.metrics import METRICS
from tap_optimizer.plan.model import LOCK_ANNOTATION
from tap_optimizer.targets.allowed import resource as plural

FIELD_MANAGER = "tap-optimizer"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
PLAN = ("optimization.tap.io", "v1alpha1", "optimizationplans")
PLATFORM = ("platform.tap.io", "v1alpha1", "tapplatforms")
LOCK_POINTER = "/metadata/annotations/" + LOCK_ANNOTATION.replace("~", "~0").replace("/", "~1")


class RefusedError(Exception):
    """The API server refused a write: a conflict (409) or a failed precondition (422)."""


class ForbiddenError(RefusedError):
    """The API server answered 403: the operator's RBAC does not let it read or change the object."""


def load_config() -> None:
    """In-cluster credentials when running in a pod, else the kubeconfig (KUBECONFIG); a kubeconfig
    that cannot be read (a directory, binary, not YAML) is a ConfigException like a missing one."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        try:
            kubernetes.config.load_kube_config()
        except (OSError, ValueError, yaml.YAMLError) as error:
            where = os.environ.get("KUBECONFIG") or "~/.kube/config"
            raise kubernetes.config.ConfigException(f"cannot read the kubeconfig {where}: {error}") from error


async def call(function: Callable[..., Any], *args: Any, expected: Collection[int] = (), **kwargs: Any) -> Any:
    """Run a blocking client call in a worker thread, counting the failures the caller does not expect."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except ApiException as error:
        if error.status not in expected:
            METRICS.error("kubernetes")
        raise
    except urllib3.exceptions.HTTPError:
        METRICS.error("kubernetes")
        raise


class Cluster:
    """The calls the operator makes, as coroutines."""

    def __init__(self, api: kubernetes.client.ApiClient | None = None):
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.extensions = kubernetes.client.ApiextensionsV1Api(api)
        self.core = kubernetes.client.CoreV1Api(api)

    async def get(self, group: str, version: str, plural_name: str, namespace: str, name: str, *,
                  forbidden: bool = False) -> dict | None:
        try:
            return await call(self.custom.get_namespaced_custom_object, group, version, namespace, plural_name, name,
                              expected={404, 403} if forbidden else {404})
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    async def get_plan(self, namespace: str, name: str) -> dict | None:
        return await self.get(*PLAN, namespace, name)

    async def list_plans(self, namespace: str) -> list[dict[str, Any]]:
        """The plans in a namespace (to find which one holds a target whose lock annotation is gone)."""
        found = await call(self.custom.list_namespaced_custom_object, *PLAN[:2], namespace, PLAN[2])
        return list((found or {}).get("items") or [])

    async def get_object(self, api_version: str, kind: str, namespace: str, name: str) -> dict | None:
        """A namespaced custom object (a plan's target, a composed resource), None when missing;
        ForbiddenError when the operator may not read it."""
        group, version = api_version.split("/")
        try:
            return await self.get(group, version, plural(kind), namespace, name, forbidden=True)
        except ApiException as error:
            if error.status == 403:
                raise ForbiddenError(f"{kind} {namespace}/{name}: {error.reason}") from error
            raise

    async def get_crd(self, group: str, kind: str) -> dict | None:
        """The CustomResourceDefinition of a kind (its schema and immutable fields), None when it
        is missing or the operator may not read it (the chart grants `get` on the allow-listed
        kinds' CRDs only)."""
        try:
            found = await call(self.extensions.read_custom_resource_definition, f"{plural(kind)}.{group}",
                               expected={403, 404})
        except ApiException as error:
            if error.status in (403, 404):
                return None
            raise
        return dict(self.extensions.api_client.sanitize_for_serialization(found))

    async def write_plan_status(self, namespace: str, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        """Merge-patch the plan's status from old to new (keys new lacks are removed)."""
        body = {"status": {**{k: None for k in old if k not in new}, **new}}
        await call(self.custom.patch_namespaced_custom_object_status, *PLAN[:2], namespace, PLAN[2], name, body,
                   field_manager=FIELD_MANAGER, _content_type=MERGE_PATCH)

    async def patch_object(self, api_version: str, kind: str, namespace: str, name: str,
                           ops: list[dict[str, Any]]) -> dict:
        """JSON-patch a plan's target; a failed `test` refuses the whole patch (RefusedError), and
        so does a 403 (ForbiddenError: the operator may not change the kind)."""
        group, version = api_version.split("/")
        try:
            return await call(self.custom.patch_namespaced_custom_object, group, version, namespace, plural(kind),
                              name, ops, field_manager=FIELD_MANAGER, _content_type=JSON_PATCH,
                              expected={403, 409, 422})
        except ApiException as error:
            if error.status == 403:
                raise ForbiddenError(f"{kind} {namespace}/{name}: {error.reason}") from error
            if error.status in (409, 422):
                raise RefusedError(f"{error.status}: {error.reason}: {error.body}") from error
            raise

    async def read_secret(self, namespace: str, name: str) -> tuple[dict[str, str], dict[str, str | None]] | None:
        """A Secret's labels and decoded data, or None when it is missing or ours to not read (404, 403)."""
        try:
            secret = await call(self.core.read_namespaced_secret, name, namespace, expected={403, 404})
        except ApiException as error:
            if error.status in (403, 404):
                return None
            raise
        data = {key: _text(value) for key, value in (secret.data or {}).items()}
        return dict(secret.metadata.labels or {}), data


def _text(value: str) -> str | None:
    """A Secret value as text; None when it is not UTF-8 (a DER certificate where PEM is wanted)."""
    try:
        return base64.b64decode(value).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def lock_ops(platform: dict[str, Any], holder: str) -> list[dict[str, Any]]:
    """Take the target: only if nobody changed it since we read it (optimistic concurrency)."""
    ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/resourceVersion",
                                  "value": platform["metadata"]["resourceVersion"]}]
    if "annotations" not in platform["metadata"]:
        ops.append({"op": "add", "path": "/metadata/annotations", "value": {}})
    return [*ops, {"op": "add", "path": LOCK_POINTER, "value": holder}]


def held_ops(holder: str) -> list[dict[str, Any]]:
    """A precondition for every write to the target: we still hold it."""
    return [{"op": "test", "path": LOCK_POINTER, "value": holder}]


def unlock_ops(holder: str) -> list[dict[str, Any]]:
    return [*held_ops(holder), {"op": "remove", "path": LOCK_POINTER}]

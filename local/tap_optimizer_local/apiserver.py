"""A faithful-enough Kubernetes API server for the real kopf operator: kmock's emulator plus what
only a real API server does and our tests depend on.

kmock stores, lists and watches objects. On top of it, every write here:
- assigns `uid`, `creationTimestamp`, `resourceVersion` (a global counter) and `generation`
  (bumped when anything but metadata and status changes), answering 201 on create;
- honours optimistic concurrency: a stale `metadata.resourceVersion` in a merge patch is a 409,
  a failed JSON-patch `test` a 422, and the whole patch is refused;
- separates the status subresource: a patch to `/status` changes only status, a patch to the
  object never changes status;
- applies the CRD's defaults and refuses what its schema refuses (types, enums, patterns,
  required fields, unknown fields, CEL rules), with a 422 naming the field, as kubectl shows it;
- records `managedFields` managers from `?fieldManager=`, which Argo CD's ignore rules rely on;
- serves Leases (leader election) with the same versions and conflicts, and answers TokenReviews
  and SubjectAccessReviews from `users` and `grants`, which a test fills.
"""

from __future__ import annotations

import collections
import copy
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import jsonpatch
import kmock

from tap_optimizer.openapi import apply_defaults, validate

JSON_PATCH = "application/json-patch+json"
REQUEST_HISTORY = 50
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
CRDS = "apiextensions.k8s.io/v1/customresourcedefinitions"
LEASES = "coordination.k8s.io/v1/leases"
TOKEN_REVIEWS = "authentication.k8s.io/v1/tokenreviews"
ACCESS_REVIEWS = "authorization.k8s.io/v1/subjectaccessreviews"
Grant = tuple[str, str, str, str, str]  # (user or group, verb, API group, resource, namespace or "" for all)


@dataclass(frozen=True)
class Kind:
    """What the server knows of one resource beyond kmock's discovery info."""

    name: str
    schema: dict[str, Any] | None
    status_subresource: bool


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message

    def response(self) -> aiohttp.web.Response:
        return aiohttp.web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                          "message": self.message, "reason": self.reason, "code": self.code},
                                         status=self.code)


class ApiServer(kmock.KubernetesEmulator):
    """kmock's KubernetesEmulator with versions, conflicts, subresources, defaults and validation."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self.kinds: dict[kmock.resource, Kind] = {}
        # Called around every write, (request, "before" | "after", object); tests use it to record
        # what was written or to kill a client at an exact point of its work.
        self.hooks: list[Any] = []
        self.calls: collections.Counter[str] = collections.Counter()  # requests by method, for benchmarks
        self.last_version = 1000
        self.resources["v1/namespaces"] = kmock.ResourceInfo(kind="Namespace", namespaced=False)
        self.resources["v1/events"] = kmock.ResourceInfo(kind="Event", namespaced=True)
        self.resources[CRDS] = kmock.ResourceInfo(kind="CustomResourceDefinition", namespaced=False,
                                                  verbs={"get", "list"})
        self.resources[LEASES] = kmock.ResourceInfo(kind="Lease", namespaced=True,
                                                    verbs={"get", "list", "watch", "create", "patch", "update"})
        self.kinds[kmock.resource(LEASES)] = Kind("Lease", None, status_subresource=False)
        for key, kind in ((TOKEN_REVIEWS, "TokenReview"), (ACCESS_REVIEWS, "SubjectAccessReview")):
            self.resources[key] = kmock.ResourceInfo(kind=kind, namespaced=False, verbs={"create"})
        self.users: dict[str, tuple[str, list[str]]] = {}  # bearer token -> (user name, groups)
        self.grants: set[Grant] = set()

    def add_crd(self, crd: dict[str, Any]) -> None:
        """Serve every version of a CustomResourceDefinition (or a Crossplane XRD)."""
        spec = crd["spec"]
        for version in spec["versions"]:
            key = f"{spec['group']}/{version['name']}/{spec['names']['plural']}"
            status = "status" in (version.get("subresources") or {}) or crd["kind"] == "CompositeResourceDefinition"
            self.resources[key] = kmock.ResourceInfo(
                kind=spec["names"]["kind"], namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                subresources={"status"} if status else set(),
                verbs={"get", "list", "watch", "create", "patch", "update", "delete"})
            schema = version["schema"]["openAPIV3Schema"]
            if crd["kind"] == "CompositeResourceDefinition":
                schema = with_crossplane_fields(schema)
            self.kinds[kmock.resource(key)] = Kind(spec["names"]["kind"], schema, status)
        if crd["kind"] == "CustomResourceDefinition":  # readable, as the operator reads a target's CRD
            self._objects[(kmock.resource(CRDS), None, crd["metadata"]["name"])] = copy.deepcopy(crd)

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        self.calls[str(request.method)] += 1
        # kmock keeps every request for assertions and matches each new one by scanning them
        # all; we assert on objects, not requests, so keep only the recent ones (O(1), not O(n)).
        if len(self._requests) > REQUEST_HISTORY:
            del self._requests[:-REQUEST_HISTORY // 10]
        meta = request.data.get("metadata") if isinstance(request.data, dict) else None
        if request.action == kmock.action.CREATE and meta and not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]  # as the API server names it
        review = self._review(request)
        if review is not None:
            return aiohttp.web.json_response(review, status=201)
        if request.resource in self.kinds and request.action in (kmock.action.CREATE, kmock.action.UPDATE):
            try:
                return await self._write(request)
            except ApiError as error:
                return error.response()
        return await super()._handle(request)

    def _review(self, request: kmock.Request) -> dict[str, Any] | None:
        """A TokenReview or SubjectAccessReview answered, as the API server's authenticator and
        RBAC authorizer would; None for any other request."""
        key = f"{request.resource.group}/{request.resource.version}/{request.resource.plural}" \
            if getattr(request.resource, "plural", None) else ""
        if key not in (TOKEN_REVIEWS, ACCESS_REVIEWS) or request.action != kmock.action.CREATE:
            return None
        body = copy.deepcopy(request.data) or {}
        spec = body.get("spec") or {}
        if key == TOKEN_REVIEWS:
            found = self.users.get(spec.get("token", ""))
            body["status"] = {"authenticated": True, "user": {"username": found[0], "groups": found[1]}} \
                if found else {"authenticated": False, "error": "invalid bearer token"}
        else:
            body["status"] = {"allowed": self.allowed(spec)}
        return body

    def allowed(self, spec: dict[str, Any]) -> bool:
        """RBAC's answer for a SubjectAccessReview spec: a grant to the user or one of its groups
        for the verb and resource, in the namespace or in all of them."""
        attributes = spec.get("resourceAttributes") or {}
        subjects = {spec.get("user", ""), *(spec.get("groups") or [])}
        wanted = (attributes.get("verb", ""), attributes.get("group", ""), attributes.get("resource", ""))
        return any((who, *wanted, namespace) in self.grants for who in subjects
                   for namespace in {"", attributes.get("namespace", "")})

    async def _serve_list(self, request: kmock.Request) -> dict[str, Any]:
        """A list carries the collection's resourceVersion, to watch from, and its kind."""
        listing = await super()._serve_list(request)
        kind = self.kinds[request.resource].name if request.resource in self.kinds else ""
        return {**listing, "kind": f"{kind}List", "apiVersion": "v1",
                "metadata": {"resourceVersion": str(self.last_version)}}

    async def _serve_fetch(self, request: kmock.Request) -> dict[str, Any]:
        """A GET by name is a lookup, not a scan of every object (kmock scans; 1,000 plans need this)."""
        key = (request.resource, request.namespace, request.name)
        async with self._lock:
            if key not in self._objects or self._objects[key].deleted:
                raise kmock.KubernetesObjectNotFoundError()
            return self._objects[key].raw

    async def _serve_watch(self, request: kmock.Request) -> Any:
        """A watch from a resourceVersion streams only what changed after it, as a real server does."""
        since = request.params.get("resourceVersion", "")
        async for event in super()._serve_watch(request):
            version = event.get("object", {}).get("metadata", {}).get("resourceVersion", "") if event else ""
            if event and event.get("type") == "ADDED" and since.isdigit() and version.isdigit() \
                    and int(version) <= int(since):
                continue
            yield event

    async def _write(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        kind = self.kinds[request.resource]
        for hook in self.hooks:
            hook(request, "before", None)
        async with self._lock:
            if request.action == kmock.action.CREATE:
                key, old, new = self._created(request)
            else:
                key = (request.resource, request.namespace, request.name)
                if key not in self._objects or self._objects[key].deleted:
                    raise ApiError(404, "NotFound", f"{request.name} not found")
                old = copy.deepcopy(self._objects[key].raw)
                new = self._patched(request, kind, old)
            new = self._admitted(request, kind, old, new)
            if old is None:
                self._objects[key] = new
            elif new != old:
                self._objects[key].create(new)  # kmock keeps history; this appends the new version whole
            if new != old:
                await self._buses[request.resource].put({"type": "ADDED" if old is None else "MODIFIED", "object": new})
            if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
                self._objects[key].delete()  # the last finalizer is gone: the object goes
                await self._buses[request.resource].put({"type": "DELETED", "object": new})
        for hook in self.hooks:
            hook(request, "after", new)
        return aiohttp.web.json_response(new, status=201 if old is None else 200)

    def _created(self, request: kmock.Request) -> tuple[Any, None, dict[str, Any]]:
        body = copy.deepcopy(request.data) or {}
        meta = body.setdefault("metadata", {})
        if request.namespace:
            meta["namespace"] = request.namespace
        key = (request.resource, meta.get("namespace"), meta.get("name"))
        if key in self._objects and not self._objects[key].deleted:
            raise ApiError(409, "AlreadyExists", f"{meta.get('name')} already exists")
        meta.update(uid=str(uuid.uuid4()), generation=1,
                    creationTimestamp=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        return key, None, body

    def _patched(self, request: kmock.Request, kind: Kind, old: dict[str, Any]) -> dict[str, Any]:
        content_type = request.headers.get("Content-Type", "").split(";")[0]
        if content_type == JSON_PATCH:
            try:
                new = jsonpatch.apply_patch(old, request.data, in_place=False)
            except jsonpatch.JsonPatchTestFailed as error:
                raise ApiError(422, "Invalid", f"the test operation of the JSON patch failed: {error}") from error
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as error:
                raise ApiError(422, "Invalid", f"invalid JSON patch: {error}") from error
        elif content_type in MERGE_PATCHES:
            if not isinstance(request.data, dict):
                raise ApiError(400, "BadRequest", "a merge patch must be a JSON object")
            expected = ((request.data or {}).get("metadata") or {}).get("resourceVersion")
            if expected is not None and expected != old["metadata"].get("resourceVersion"):
                raise ApiError(409, "Conflict", "the object has been modified; please apply your changes to the "
                                                "latest version and try again")
            new = merge(old, request.data or {})
        else:
            raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {content_type!r}")
        if kind.status_subresource:
            new = _split_status(old, new, to_status=request.subresource == "status")
        return new

    def _admitted(self, request: kmock.Request, kind: Kind, old: dict[str, Any] | None,
                  new: dict[str, Any]) -> dict[str, Any]:
        """Default, validate and version the object as the API server stores it."""
        if kind.schema is not None:
            body = {k: v for k, v in new.items() if k not in ("apiVersion", "kind", "metadata")}
            body = apply_defaults(kind.schema, body)
            errors = validate(kind.schema, body)
            if errors:
                name = new.get("metadata", {}).get("name")
                raise ApiError(422, "Invalid", f"{new.get('kind')} {name!r} is invalid: "
                                               + "; ".join(map(str, errors)))
            new = {**{k: v for k, v in new.items() if k in ("apiVersion", "kind", "metadata")}, **body}
        meta = new["metadata"]
        if old is not None and new == old:
            return old
        if old is not None and _content(old) != _content(new):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        self.last_version += 1
        meta["resourceVersion"] = str(self.last_version)
        manager = request.params.get("fieldManager")
        if manager:
            managers = [m for m in meta.get("managedFields", []) if m["manager"] != manager]
            managers.append({"manager": manager, "operation": "Update", "apiVersion": new.get("apiVersion"),
                             "time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                             "subresource": request.subresource or ""})
            meta["managedFields"] = managers
        return new


def with_crossplane_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema Crossplane serves for a composite: the XRD's plus its own spec and status fields."""
    out = copy.deepcopy(schema)
    free = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    out["properties"]["spec"].setdefault("properties", {})["crossplane"] = free
    status = out["properties"].setdefault("status", {"type": "object"}).setdefault("properties", {})
    status["conditions"] = {"type": "array", "items": free}
    status["crossplane"] = free
    return out


def _content(obj: dict[str, Any]) -> dict[str, Any]:
    """What bumps generation: everything but metadata and status."""
    return {k: v for k, v in obj.items() if k not in ("metadata", "status")}


def merge(old: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(old) if isinstance(old, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def _split_status(old: dict[str, Any], new: dict[str, Any], to_status: bool) -> dict[str, Any]:
    """With a status subresource, `/status` writes change only status, and other writes never do."""
    source = new if to_status else old
    out = {k: v for k, v in (old if to_status else new).items() if k != "status"}
    if source.get("status") is not None:
        out["status"] = source["status"]
    return out

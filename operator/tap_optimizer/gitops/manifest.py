"""Writing values into a TapPlatform manifest as a person would, and the same edit as kustomize
patches. Pure: the manifest's objects in, changed objects or patches out.

Only the keys that change are touched. Where the manifest relies on a default on the way to a
key, the default is written out first, as the API server would fill it in: a map with a default
of its own (`tables`, each table's `globalSecondaryIndexes`) must be written whole, or the one new
key would replace every default entry.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

from tap_optimizer.gitops.values import Assignment, ExportError, changes
from tap_optimizer.openapi import Schema
from tap_optimizer.platform import pointer
from tap_optimizer.platform.parameters import parameters_schema


def assign(parameters: MutableMapping[str, Any], assignment: Assignment) -> None:
    """Set (or remove, for ABSENT) one value in a manifest's parameters, in place."""
    *parents, leaf = pointer.tokens(assignment.path)
    node, schema = parameters, parameters_schema()
    for token in parents:
        schema = _child(schema, token, assignment.path)
        if token not in node:
            node[token] = copy.deepcopy(schema.get("default", {}))
        node = node[token]
        if not isinstance(node, MutableMapping):
            raise ExportError(f"{assignment.path}: {token!r} is not an object in the manifest")
    _child(schema, leaf, assignment.path)
    if assignment.value is not pointer.ABSENT:
        node[leaf] = copy.deepcopy(assignment.value)
    elif leaf in node:
        del node[leaf]


def _child(schema: Schema, token: str, path: str) -> Schema:
    """The schema of a key inside an object: a declared property, or an entry of a map."""
    if token in schema.get("properties", {}):
        return schema["properties"][token]
    entries = schema.get("additionalProperties")
    if isinstance(entries, Mapping):
        return entries
    raise ExportError(f"{path}: {token!r} is not a TapPlatform parameter (the XRD does not declare it)")


def json6902(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A JSON patch (RFC 6902, kustomize's `patches` with a target) from the old manifest object to
    the new one, in its `spec`."""
    ops: list[dict[str, Any]] = []
    for path, before, after in changes(old.get("spec") or {}, new.get("spec") or {}, "/spec"):
        if after is pointer.ABSENT:
            ops.append({"op": "remove", "path": path})
        else:
            ops.append({"op": "add" if before is pointer.ABSENT else "replace", "path": path, "value": after})
    return ops


def merge_patch(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """A strategic-merge patch from the old manifest object to the new one. A custom resource has
    no merge keys, so kustomize merges it as a JSON merge patch (RFC 7386): objects merge, lists
    are replaced whole, null removes a key."""
    metadata = {k: v for k, v in (old.get("metadata") or {}).items() if k in ("name", "namespace")}
    patch: dict[str, Any] = {"apiVersion": old.get("apiVersion"), "kind": old.get("kind"), "metadata": metadata}
    for path, _before, after in changes(old.get("spec") or {}, new.get("spec") or {}, "/spec"):
        *parents, leaf = [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]
        node = patch
        for token in parents:
            node = node.setdefault(token, {})
        node[leaf] = None if after is pointer.ABSENT else after
    return patch

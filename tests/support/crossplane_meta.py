"""The schema of Crossplane's package metadata, `meta.pkg.crossplane.io` Function.

../shared/schemas holds Crossplane's installed CRDs but not the package meta types, which are not
installed in a cluster (the package manager parses crossplane.yaml itself). This is the structural
schema (types, required fields, every declared field, descriptions left out) of
`cluster/meta/meta.pkg.crossplane.io_functions.yaml` in crossplane/crossplane at commit
2d040d2daf4e001799c4154a4a09b9e1f40d7fde, the commit ../shared/schemas/crossplane was taken
from; it is generated from `apis/pkg/meta/v1/function_types.go` and `meta.go` there (FunctionSpec
inlines MetaSpec: crossplane.version, dependsOn, capabilities). v1 and v1beta1 share it.
"""

from __future__ import annotations

from typing import Any

_STRING = {"type": "string"}
_DEPENDENCY = {
    "type": "object",
    "required": ["version"],
    "properties": {name: _STRING for name in (
        "apiVersion", "configuration", "function", "kind", "package", "provider", "version")},
}
_SCHEMA = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": _STRING,
        "kind": _STRING,
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "capabilities": {"type": "array", "items": _STRING},
                "crossplane": {"type": "object", "required": ["version"], "properties": {"version": _STRING}},
                "dependsOn": {"type": "array", "items": _DEPENDENCY},
            },
        },
    },
}

FUNCTION_META_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "functions.meta.pkg.crossplane.io"},
    "spec": {
        "group": "meta.pkg.crossplane.io",
        "names": {"kind": "Function", "listKind": "FunctionList", "plural": "functions", "singular": "function"},
        "scope": "Namespaced",
        "versions": [{"name": name, "served": True, "storage": name == "v1", "schema": {"openAPIV3Schema": _SCHEMA}}
                     for name in ("v1", "v1beta1")],
    },
}

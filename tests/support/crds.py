"""Validate objects against the real upstream CRD schemas in ../shared/schemas (our API server here).

An object is refused when its apiVersion/kind is unknown or not served, when its spec fails the
CRD's openAPIV3Schema after defaulting (types, enums, required fields, the CRD's CEL rules such
as upjet's "spec.forProvider.X is a required parameter"), or when it sets a field the schema does
not declare (the API server would prune it silently: a typo we want to catch).
"""

from __future__ import annotations

import functools
import pathlib
from typing import Any

import yaml

from tap_optimizer.openapi import apply_defaults, validate

SCHEMAS = pathlib.Path(__file__).resolve().parents[2].parent / "shared" / "schemas"


@functools.lru_cache(maxsize=1)
def index() -> dict[tuple[str, str], tuple[str, dict[str, Any], bool]]:
    """(apiVersion, kind) -> (scope, openAPIV3Schema, served) for every upstream CRD."""
    out = {}
    for path in sorted(SCHEMAS.rglob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        out.update(crd_entries(crd))
    return out


def crd_entries(crd: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict[str, Any], bool]]:
    """Index one CRD (ours or upstream) by (apiVersion, kind)."""
    spec = crd["spec"]
    return {
        (f"{spec['group']}/{v['name']}", spec["names"]["kind"]): (
            spec.get("scope", "Namespaced"),
            v["schema"]["openAPIV3Schema"],
            v.get("served", False),
        )
        for v in spec["versions"]
    }


def object_errors(obj: dict[str, Any], extra: dict | None = None, with_metadata: bool = False) -> list[str]:
    """Every reason the API server would refuse obj; empty when it would accept it. Metadata is
    the API server's to check, except for the CRDs whose schema constrains it (Argo CD's)."""
    known = {**index(), **(extra or {})}
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in known:
        return [f"unknown apiVersion/kind {key}"]
    _scope, schema, served = known[key]
    if not served:
        return [f"{key} is not served"]
    skipped = ("apiVersion", "kind") if with_metadata else ("apiVersion", "kind", "metadata")
    body = {k: v for k, v in obj.items() if k not in skipped}
    return [str(e) for e in validate(schema, apply_defaults(schema, body))]

"""Example TapPlatforms and helpers to compare renders."""

from __future__ import annotations

import copy
import pathlib
from typing import Any

import yaml

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "crossplane" / "examples"


def example(name: str) -> dict[str, Any]:
    """A copy of one example TapPlatform, e.g. `tap-prod`."""
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())


def with_parameters(xr: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of xr with parameters replaced at dotted paths, e.g. `database__readerCount=1`."""
    out = copy.deepcopy(xr)
    for dotted, value in changes.items():
        node = out.setdefault("spec", {}).setdefault("parameters", {})
        *parents, leaf = dotted.split("__")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out


def diff(before: dict[str, dict], after: dict[str, dict]) -> dict[str, set[str]]:
    """Which composed resources a change adds, removes and modifies."""
    return {
        "added": set(after) - set(before),
        "removed": set(before) - set(after),
        "modified": {k for k in set(before) & set(after) if before[k] != after[k]},
    }

"""The TapPlatform parameters: their schema (the XRD shipped in this package) and checks.

The XRD is the single source of truth for names, defaults and limits. The API server applies
it in a cluster; `tap-optimizer render` and the composition function apply it themselves, so
their output is the same with or without an API server in front.
"""

from __future__ import annotations

import copy
import functools
import pathlib
from collections.abc import Mapping
from importlib import resources
from typing import Any

import yaml

from tap_optimizer.openapi import FieldError, Schema, apply_defaults, validate
from tap_optimizer.platform import pointer

XRD_FILE = "tapplatform.xrd.yaml"
API_VERSION = "platform.tap.io/v1alpha1"
KIND = "TapPlatform"
OBSERVE_ONLY = "ObserveOnly"  # managementMode of a platform being adopted: Crossplane only observes it
REFERENCE_PLATFORM = pathlib.Path(__file__).parent / "examples" / "tap-prod.yaml"  # the reference, tap-prod


@functools.lru_cache(maxsize=1)
def xrd() -> dict[str, Any]:
    """The CompositeResourceDefinition of TapPlatform, as shipped in the package."""
    text = resources.files("tap_optimizer.platform").joinpath(XRD_FILE).read_text()
    return yaml.safe_load(text)


def xr_schema() -> Schema:
    """The openAPIV3Schema of the served version."""
    (version,) = [v for v in xrd()["spec"]["versions"] if v["name"] == "v1alpha1"]
    return version["schema"]["openAPIV3Schema"]


def parameters_schema() -> Schema:
    return xr_schema()["properties"]["spec"]["properties"]["parameters"]


def defaulted_parameters(parameters: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters with every default filled in."""
    return apply_defaults(parameters_schema(), copy.deepcopy(parameters) if parameters else {})


def observe_only(parameters: Mapping[str, Any]) -> bool:
    """Whether Crossplane may only observe the platform's AWS resources (it is being adopted)."""
    return parameters.get("managementMode") == OBSERVE_ONLY


def parameter_errors(parameters: dict[str, Any]) -> list[FieldError]:
    """Why these (defaulted) parameters would be refused, each naming its field."""
    return validate(parameters_schema(), parameters, root="spec.parameters")


def schema_at(path: str) -> Schema:
    """The TapPlatform parameter schema a change's path names (see `change_errors`)."""
    return parameter_schema_at(path)[0]


def parameter_schema_at(path: str) -> tuple[Schema, bool]:
    """The parameter schema a pointer names, and whether it is a map entry (removable)."""
    node, removable, walked = parameters_schema(), False, "/spec/parameters"
    path_tokens = pointer.tokens(path)
    for token in path_tokens:
        walked += "/" + pointer.escape(token)
        if node.get("type") == "array":
            raise pointer.PointerError(path, f"{walked} goes into a list; replace the whole list instead")
        if token in (node.get("properties") or {}):
            node, removable = node["properties"][token], False
        elif isinstance(node.get("additionalProperties"), dict):
            node, removable = node["additionalProperties"], True
        else:
            allowed = ", ".join(sorted(node.get("properties") or {}))
            raise pointer.PointerError(path, f"{walked} is not a TapPlatform parameter; allowed here: {allowed}")
    whole_table = path_tokens[0] == "tables" and len(path_tokens) == 2  # holds data: never removed by a plan
    return node, removable and not whole_table

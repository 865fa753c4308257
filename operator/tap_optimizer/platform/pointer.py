"""JSON pointers into a TapPlatform's parameters, and JSON-patch operations on them.

Plans name parameters by JSON pointer (`/spec/parameters/tables/users/streamEnabled`). Tables
and indexes are maps keyed by name, so one pointer names one thing and a change or its rollback
touches nothing else. Values are compared and restored exactly, including "absent". Lists
(secondaryRegions, availabilityZones) are changed whole: an index shifts when an item goes, so a
pointer into a list would not name one thing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

PREFIX = "/spec/parameters"


class _Absent:
    """The value of a pointer that names nothing (distinct from JSON null)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()


@dataclass(frozen=True)
class PointerError(ValueError):
    """A pointer that cannot be followed in the object at hand."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def tokens(path: str) -> list[str]:
    """The unescaped reference tokens of a pointer under /spec/parameters (RFC 6901)."""
    if not path.startswith(PREFIX + "/"):
        raise PointerError(path, f"must start with {PREFIX}/")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[len(PREFIX) + 1:].split("/")]


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def get(parameters: Any, path: str) -> Any:
    """The value at path, or ABSENT."""
    node = parameters
    for token in tokens(path):
        if not isinstance(node, dict) or token not in node:
            return ABSENT
        node = node[token]
    return copy.deepcopy(node)


def put(parameters: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of parameters with value at path (ABSENT removes it). Parents must exist."""
    out = copy.deepcopy(parameters)
    *parents, leaf = tokens(path)
    node: Any = out
    for token in parents:
        if not isinstance(node, dict) or not isinstance(node.get(token), dict):
            raise PointerError(path, f"no object {token!r} to change inside")
        node = node[token]
    if value is ABSENT:
        if leaf not in node:
            raise PointerError(path, "nothing to remove")
        del node[leaf]
    else:
        node[leaf] = copy.deepcopy(value)
    return out


def patch_ops(path: str, expected: Any, value: Any) -> list[dict[str, Any]]:
    """JSON-patch operations that set path to value only if it still holds expected.

    The `test` makes the API server refuse the whole patch when someone changed the path since
    we read it, so a phase is applied whole or not at all.
    """
    if expected is ABSENT and value is ABSENT:
        return []  # absent, and to stay so (a retry's removal an earlier attempt made): nothing to patch
    ops: list[dict[str, Any]] = []
    if expected is not ABSENT:
        ops.append({"op": "test", "path": path, "value": expected})
    if value is ABSENT:
        ops.append({"op": "remove", "path": path})
    else:
        ops.append({"op": "add" if expected is ABSENT else "replace", "path": path, "value": value})
    return ops

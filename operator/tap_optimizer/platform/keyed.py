"""Keyed JSON pointers: pointers into a whole object (`/spec/...`) that name a list element by its
key fields, never by its index.

Syntax. A path is an RFC 6901 pointer whose segments may end in a key selector:
`/spec/globalSecondaryIndexes[indexName=ByRole]` is the element of the list
`spec.globalSecondaryIndexes` whose `indexName` is `ByRole`; several keys are joined by commas
(`/spec/tableReplicas[regionName=us-west-2,kind=x]`); the path may go on inside the element
(`/spec/globalSecondaryIndexes[indexName=ByRole]/projection/projectionType`). Names and values take
RFC 6901's escapes (`~0` for `~`, `~1` for `/`) and may not contain `[`, `]`, `,` or `=`. A key
matches when the element's field, as text (numbers and booleans as JSON), equals the value.
Lists are addressed by key only: an index shifts when an element goes, and ACK writes lists back
in AWS's order, so a recorded index later names another element
(`../shared/reference/ack.md` 1.6, "What a list-valued field does to JSON-pointer rollback").

Writes (`patch_ops`) resolve each key to the element's index in the object as just read and pin
it with `test` operations, so the API server refuses the whole patch if the list moved since:
- a keyed element on the way: a `test` of its key fields at that index;
- replacing or removing a value: a `test` of the value there first;
- adding an element the list lacks: a `test` of the whole list as read, then an append (`/-`):
  RFC 6902 has no "test absent", and order means nothing in a keyed list;
- adding to a list that is not there: the list of that one element (nothing to test).
A rollback that puts a removed element back therefore restores it byte-identical, once.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from tap_optimizer.platform.pointer import ABSENT, PointerError, escape

SEGMENT = re.compile(r"^(?P<name>[^\[\],=]*)(?:\[(?P<keys>[^\[\]]+)\])?$")


@dataclass(frozen=True)
class Step:
    """One segment: the field `name`, then (if `keys`) the element of that list with those keys."""

    name: str
    keys: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        keys = ",".join(f"{k}={v}" for k, v in self.keys)
        return escape(self.name) + (f"[{keys}]" if keys else "")


def steps(path: str) -> tuple[Step, ...]:
    """The segments of a keyed pointer (see the module docstring), unescaped."""
    if not path.startswith("/"):
        raise PointerError(path, "must start with /")
    return tuple(_step(path, segment) for segment in path[1:].split("/"))


def _step(path: str, segment: str) -> Step:
    found = SEGMENT.match(segment)
    if found is None or not found["name"]:
        raise PointerError(path, f"{segment!r} is not a field name, optionally followed by [key=value,...]")
    keys = []
    for pair in (found["keys"] or "").split(",") if found["keys"] else ():
        key, equals, value = pair.partition("=")
        if not equals or not key or "=" in value:
            raise PointerError(path, f"{pair!r} in {segment!r} is not key=value")
        keys.append((_unescape(key), _unescape(value)))
    return Step(_unescape(found["name"]), tuple(keys))


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _text(value: Any) -> str:
    """A key field as a selector compares it: text as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


class _MissingError(PointerError):
    """Nothing at a path's parent: reading finds ABSENT; a write has nothing to change inside."""


@dataclass
class _Spot:
    """Where a path's value lives in an object: `container[slot]`, with the plain pointer tokens of
    the container and the `test`s pinning the keyed elements on the way. A keyed last step whose
    element is missing has `slot` None (append to the list `container`); one whose list is missing
    has `container` the parent object and `wrap` True (the list must be made)."""

    container: Any
    slot: str | int | None
    tokens: list[str]
    pins: list[dict[str, Any]]
    wrap: bool = False

    @property
    def current(self) -> Any:
        if self.slot is None or self.wrap:
            return ABSENT
        if isinstance(self.container, dict):
            return self.container.get(self.slot, ABSENT)
        return self.container[self.slot]

    def pointer(self, *more: str) -> str:
        return _plain(*self.tokens, *more)


def _spot(obj: Any, path: str) -> _Spot:
    *front, last = steps(path)
    node, tokens, pins = obj, [], []
    for step in front:
        node = _field(node, step.name, path)
        tokens.append(step.name)
        if step.keys:
            index = _index(node, step, path)
            if index is None:
                raise _MissingError(path, f"no element {step} to change inside")
            pins += [{"op": "test", "path": _plain(*tokens, str(index), key), "value": node[index][key]}
                     for key, _ in step.keys]
            node, tokens = node[index], [*tokens, str(index)]
    _by_key_only(node, last.name, path)
    if not isinstance(node, dict):
        raise _MissingError(path, f"no object {'/'.join(tokens) or '(root)'} to change inside")
    if not last.keys:
        return _Spot(node, last.name, tokens, pins)
    if last.name not in node:
        return _Spot(node, last.name, tokens, pins, wrap=True)
    index = _index(node[last.name], last, path)
    return _Spot(node[last.name], index, [*tokens, last.name], pins)


def _by_key_only(node: Any, name: str, path: str) -> None:
    if isinstance(node, list):
        raise PointerError(path, f"{name!r} goes into a list by position; name its element by key: [key=value]")


def _field(node: Any, name: str, path: str) -> Any:
    _by_key_only(node, name, path)
    if not isinstance(node, dict) or name not in node:
        raise _MissingError(path, f"no field {name!r} to go into")
    return node[name]


def _index(items: Any, step: Step, path: str) -> int | None:
    """The index of the one element of `items` with the step's keys; None when there is none."""
    if not isinstance(items, list):
        raise PointerError(path, f"{step} selects by key, but {step.name} is not a list")
    found = [i for i, item in enumerate(items)
             if isinstance(item, dict) and all(k in item and _text(item[k]) == v for k, v in step.keys)]
    if len(found) > 1:
        raise PointerError(path, f"{len(found)} elements of {step.name} match {step}: the key names no one element")
    return found[0] if found else None


def _plain(*tokens: str) -> str:
    return "".join("/" + escape(t) for t in tokens)


def get(obj: Any, path: str) -> Any:
    """The value at path, or ABSENT."""
    try:
        found = _spot(obj, path).current
    except _MissingError:
        return ABSENT
    return ABSENT if found is ABSENT else copy.deepcopy(found)


def put(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of obj with value at path (ABSENT removes it; a keyed element the list lacks is
    appended). Parents must exist."""
    out = copy.deepcopy(obj)
    spot = _spot(out, path)
    _check_keys(path, value)
    if value is ABSENT:
        if spot.current is ABSENT:
            raise PointerError(path, "nothing to remove")
        del spot.container[spot.slot]
    elif spot.wrap:
        spot.container[spot.slot] = [copy.deepcopy(value)]
    elif spot.slot is None:
        spot.container.append(copy.deepcopy(value))
    else:
        spot.container[spot.slot] = copy.deepcopy(value)
    return out


def _check_keys(path: str, value: Any) -> None:
    """A whole keyed element put at path must carry the keys the path names."""
    last = steps(path)[-1]
    if value is ABSENT or not last.keys:
        return
    if not isinstance(value, dict) or any(_text(value.get(k)) != v for k, v in last.keys):
        raise PointerError(path, f"the value must be an object with {', '.join(f'{k}={v!r}' for k, v in last.keys)} "
                                 "(the element the path names)")


def patch_ops(obj: Any, path: str, expected: Any, value: Any) -> list[dict[str, Any]]:
    """JSON-patch operations that change path from `expected` to `value` in obj as just read, and
    only if the object still is as read where it matters (see the module docstring).

    Raises PointerError when obj does not hold `expected` at path: a conflict, found before any
    patch (with keys there is no index to pin, or an append would make a duplicate)."""
    spot = _spot(obj, path)
    _check_keys(path, value)
    if spot.current != expected:
        raise PointerError(path, f"holds {spot.current!r}, not the expected {expected!r}")
    if value is ABSENT and expected is ABSENT:
        return []
    ops = list(spot.pins)
    if expected is not ABSENT:
        ops.append({"op": "test", "path": spot.pointer(str(spot.slot)), "value": expected})
        ops.append({"op": "remove", "path": spot.pointer(str(spot.slot))} if value is ABSENT else
                   {"op": "replace", "path": spot.pointer(str(spot.slot)), "value": value})
    elif spot.wrap:
        ops.append({"op": "add", "path": spot.pointer(str(spot.slot)), "value": [value]})
    elif spot.slot is None:
        ops += [{"op": "test", "path": spot.pointer(), "value": spot.container},
                {"op": "add", "path": spot.pointer("-"), "value": value}]
    else:
        ops.append({"op": "add", "path": spot.pointer(str(spot.slot)), "value": value})
    return copy.deepcopy(ops)

"""What a Kubernetes API server does with a CRD's structural openAPIV3Schema, as pure functions.

We have no API server here, and the composition function must refuse what the API server would
refuse (a `crossplane render` or a gRPC call does not go through one). So defaulting, schema
validation, unknown-field detection and the schema's CEL rules (`x-kubernetes-validations`) are
implemented once here and used by the function, the CLI, the emulated API server of the tests
and the tests that check rendered objects against upstream CRDs.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import cel
import jsonschema

Schema = Mapping[str, Any]

# Kubernetes extensions that jsonschema does not know; CEL rules are evaluated separately.
_PRESERVE = "x-kubernetes-preserve-unknown-fields"
_RULES = "x-kubernetes-validations"


@dataclass(frozen=True)
class FieldError:
    """One refusal: the dotted path of the field and what is wrong or allowed there."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def join(path: str, key: str | int) -> str:
    """Append a key to a dotted path, with list indexes in brackets."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def apply_defaults(schema: Schema, obj: Any) -> Any:
    """Return a copy of obj with the schema's defaults filled in, as the API server does.

    A default applies where a property is absent; defaults of nested properties then apply
    inside it (so `default: {}` on an object brings all its children's defaults).
    """
    return _default(schema, copy.deepcopy(obj))


def _default(schema: Schema, obj: Any) -> Any:
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                obj[key] = _default(sub, obj[key])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in obj:
                obj[key] = _default(extra, obj[key])
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [_default(schema["items"], item) for item in obj]
    return obj


def validate(schema: Schema, obj: Any, root: str = "") -> list[FieldError]:
    """Every reason the API server would refuse obj: schema, unknown fields and CEL rules.

    Type errors are reported first: CEL rules are only evaluated on a well-typed object, as
    Kubernetes does, so a wrong type gives one clear message instead of a cascade.
    """
    errors = list(_schema_errors(schema, obj, root))
    errors += list(_unknown_fields(schema, obj, root))
    if not errors:
        errors += list(_rule_errors(schema, obj, root))
    return errors


def _schema_errors(schema: Schema, obj: Any, root: str) -> Iterator[FieldError]:
    validator = jsonschema.Draft7Validator(schema, format_checker=None)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = root
        for key in error.absolute_path:
            path = join(path, key)
        yield FieldError(path, _plain(error))


def _plain(error: jsonschema.ValidationError) -> str:
    """A message that names what is allowed, without dumping the whole schema."""
    if error.validator == "enum":
        return f"{error.instance!r} is not allowed; allowed values: {', '.join(map(repr, error.validator_value))}"
    if error.validator == "pattern":
        return f"{error.instance!r} does not match the pattern {error.validator_value}"
    if error.validator == "required":
        return error.message.replace("property", "field")
    return error.message


def pruned_fields(schema: Schema, obj: Any, root: str = "") -> list[FieldError]:
    """Every field of obj a structural schema would prune: `validate`'s unknown fields, and also the
    fields of an object that declares no properties at all (the API server keeps none of them
    unless the object preserves unknown fields)."""
    return list(_unknown_fields(schema, obj, root, everywhere=True))


def _unknown_fields(schema: Schema, obj: Any, path: str, everywhere: bool = False) -> Iterator[FieldError]:
    """Fields the schema does not declare: the API server prunes or rejects them; we refuse. An
    object without declared properties is let through unless `everywhere`."""
    if isinstance(obj, dict) and schema.get("type") == "object" and not schema.get(_PRESERVE):
        declared = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in obj.items():
            if key in declared:
                yield from _unknown_fields(declared[key], value, join(path, key), everywhere)
            elif isinstance(extra, Mapping):
                yield from _unknown_fields(extra, value, join(path, key), everywhere)
            elif (declared or everywhere) and not (path == "" and key in ("apiVersion", "kind", "metadata")):
                allowed = ", ".join(sorted(declared)) or "none"
                yield FieldError(join(path, key), f"unknown field; allowed fields: {allowed}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(obj):
            yield from _unknown_fields(schema["items"], item, join(path, index), everywhere)


def _rule_errors(schema: Schema, obj: Any, path: str) -> Iterator[FieldError]:
    """Evaluate the CEL rules of every schema node against the matching part of obj."""
    if obj is None:
        return
    for rule in schema.get(_RULES) or ():
        if "oldSelf" in rule["rule"]:
            continue  # transition rules need the stored object; a create has none
        if not _holds(rule["rule"], obj):
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            yield FieldError(path, message)
    if isinstance(obj, dict):
        declared = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, value in obj.items():
            sub = declared.get(key, extra if isinstance(extra, Mapping) else None)
            if sub is not None:
                yield from _rule_errors(sub, value, join(path, key))
    elif isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(obj):
            yield from _rule_errors(schema["items"], item, join(path, index))


# Kubernetes adds CEL extension functions to the standard library; these are the ones the CRDs
# we serve or validate against use (e.g. Crossplane's "Plural name must be lowercase").
KUBERNETES_FUNCTIONS = {
    "lowerAscii": lambda text: text.lower() if text.isascii() else text,
    "upperAscii": lambda text: text.upper() if text.isascii() else text,
}


def _holds(rule: str, value: Any) -> bool:
    """True when the rule evaluates to true; an evaluation error counts as a refusal."""
    context = cel.Context({"self": value})
    for name, function in KUBERNETES_FUNCTIONS.items():
        context.add_function(name, function)
    try:
        return _program(rule).execute(context) is True
    except (KeyError, RuntimeError, ValueError, TypeError):
        return False


@functools.lru_cache(maxsize=4096)
def _program(rule: str) -> Any:
    return cel.compile(rule)


def coerce_integers(schema: Schema, obj: Any) -> Any:
    """Turn integral floats back into ints where the schema says integer.

    Crossplane hands a function its input as a protobuf Struct, which stores every number as a
    double: `readerCount: 2` arrives as `2.0`. The API server had checked it as an integer.
    """
    if isinstance(obj, float) and schema.get("type") == "integer" and obj.is_integer():
        return int(obj)
    if isinstance(obj, dict):
        declared = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        return {
            key: coerce_integers(declared.get(key, extra if isinstance(extra, Mapping) else {}), value)
            for key, value in obj.items()
        }
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [coerce_integers(schema["items"], item) for item in obj]
    return obj

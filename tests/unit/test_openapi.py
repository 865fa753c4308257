"""The structural-schema engine behaves like the API server on defaulting, validation and CEL."""

from __future__ import annotations

import pytest

from tap_optimizer.openapi import apply_defaults, coerce_integers, pruned_fields, validate

SCHEMA = {
    "type": "object",
    "properties": {
        "size": {"type": "integer", "default": 3, "minimum": 1},
        "mode": {"type": "string", "enum": ["fast", "safe"], "default": "safe"},
        "limits": {
            "type": "object",
            "default": {},
            "properties": {"low": {"type": "integer", "default": 1}, "high": {"type": "integer", "default": 5}},
            "x-kubernetes-validations": [{"rule": "self.low <= self.high", "message": "low must not exceed high"}],
        },
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer", "default": 7}}},
        },
        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}


@pytest.mark.parametrize(
    ("given", "wanted"),
    [
        ({}, {"size": 3, "mode": "safe", "limits": {"low": 1, "high": 5}}),
        ({"size": 9, "limits": {"high": 2}}, {"size": 9, "mode": "safe", "limits": {"low": 1, "high": 2}}),
        ({"items": [{}, {"n": 1}]}, {"size": 3, "mode": "safe", "limits": {"low": 1, "high": 5},
                                      "items": [{"n": 7}, {"n": 1}]}),
    ],
    ids=["an empty object gets every default, nested ones too",
         "given values win and siblings are still defaulted",
         "defaults apply inside list items"],
)
def test_defaults(given, wanted):
    assert apply_defaults(SCHEMA, given) == wanted


def test_defaulting_does_not_change_its_input():
    given = {"limits": {}}
    apply_defaults(SCHEMA, given)
    assert given == {"limits": {}}


@pytest.mark.parametrize(
    ("obj", "wanted"),
    [
        ({"size": 2}, []),
        ({"size": 0}, ["spec.size: 0 is less than the minimum of 1"]),
        ({"mode": "yolo"}, ["spec.mode: 'yolo' is not allowed; allowed values: 'fast', 'safe'"]),
        ({"limits": {"low": 9, "high": 2}}, ["spec.limits: low must not exceed high"]),
        ({"sise": 2}, ["spec.sise: unknown field; allowed fields: free, items, labels, limits, mode, size"]),
        ({"labels": {"a": "b", "c": 1}}, ["spec.labels.c: 1 is not of type 'string'"]),
        ({"items": [{"n": 1}, {"m": 2}]}, ["spec.items[1].m: unknown field; allowed fields: n"]),
        ({"free": {"anything": {"goes": 1}}}, []),
    ],
    ids=["a valid object passes", "a minimum names the field and the bound",
         "an enum names the allowed values", "a CEL rule's message is reported at its node",
         "a typo is an unknown field, listing the allowed ones", "map values are typed",
         "list items are checked with their index", "preserve-unknown-fields accepts anything"],
)
def test_validate(obj, wanted):
    assert [str(e) for e in validate(SCHEMA, apply_defaults(SCHEMA, obj), root="spec")] == wanted


def test_cel_rules_wait_for_a_well_typed_object():
    errors = validate(SCHEMA, {"limits": {"low": "x", "high": 2}})
    assert [str(e) for e in errors] == ["limits.low: 'x' is not of type 'integer'"]


def test_a_rule_that_cannot_evaluate_refuses():
    schema = {"type": "object", "x-kubernetes-validations": [{"rule": "self.missing > 1", "message": "m"}]}
    assert [str(e) for e in validate(schema, {})] == ["m"]


def test_transition_rules_are_skipped_on_create():
    schema = {"type": "string", "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "immutable"}]}
    assert validate(schema, "x") == []


def test_protobuf_doubles_become_integers_where_the_schema_says_integer():
    given = {"size": 3.0, "labels": {"a": "1"}, "items": [{"n": 2.0}], "free": {"x": 1.0}}
    coerced = coerce_integers(SCHEMA, given)
    assert coerced == {"size": 3, "labels": {"a": "1"}, "items": [{"n": 2}], "free": {"x": 1.0}}
    assert type(coerced["size"]) is int and type(coerced["items"][0]["n"]) is int
    assert type(coerced["free"]["x"]) is float


def test_pruned_fields_include_those_of_an_object_that_declares_none():
    schema = {"type": "object", "properties": {
        "bare": {"type": "object"},
        "open": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}
    obj = {"bare": {"lost": 1}, "open": {"kept": {"deep": 1}}, "labels": {"a": "b"}, "typo": 1}
    assert [str(e) for e in validate(schema, obj)] == ["typo: unknown field; allowed fields: bare, labels, open"]
    assert [str(e) for e in pruned_fields(schema, obj)] == ["bare.lost: unknown field; allowed fields: none",
                                                            "typo: unknown field; allowed fields: bare, labels, open"]

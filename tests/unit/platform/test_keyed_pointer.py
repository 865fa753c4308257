"""Keyed pointers name one list element by its key, wherever the list has moved it: the patches they
make are refused if the list moved in between, and a removed element restored after a reorder comes
back byte-identical, once. Each patch is applied with a real JSON-patch implementation."""

from __future__ import annotations

import copy

import jsonpatch
import pytest

from tap_optimizer.platform.keyed import get, patch_ops, put, steps
from tap_optimizer.platform.pointer import ABSENT, PointerError

ROLE = {"indexName": "ByRole", "keySchema": [{"attributeName": "role", "keyType": "HASH"}],
        "projection": {"projectionType": "KEYS_ONLY"}, "provisionedThroughput": {"readCapacityUnits": 0}}
TENANT = {"indexName": "ByTenant", "keySchema": [{"attributeName": "tenant", "keyType": "HASH"}],
          "projection": {"projectionType": "ALL"}}
PLAN = {"indexName": "ByPlan", "keySchema": [{"attributeName": "plan", "keyType": "HASH"}],
        "projection": {"projectionType": "ALL"}}
BY_ROLE = "/spec/globalSecondaryIndexes[indexName=ByRole]"


def table(*indexes: dict) -> dict:
    return {"spec": {"tableName": "users", "globalSecondaryIndexes": copy.deepcopy(list(indexes))}}


def applied(obj: dict, ops: list) -> dict:
    return jsonpatch.apply_patch(obj, ops, in_place=False)


def test_a_key_names_the_element_wherever_it_stands():
    assert get(table(TENANT, ROLE, PLAN), BY_ROLE) == ROLE
    assert get(table(ROLE, PLAN, TENANT), BY_ROLE) == ROLE
    assert get(table(ROLE), BY_ROLE + "/projection/projectionType") == "KEYS_ONLY"


@pytest.mark.parametrize("obj, path", [
    (table(TENANT, PLAN), BY_ROLE),
    (table(TENANT, PLAN), BY_ROLE + "/projection"),
    ({"spec": {}}, BY_ROLE),
    (table(ROLE), BY_ROLE + "/onDemandThroughput/maxReadRequestUnits"),
], ids=["no such element", "inside a missing element", "no list", "below a missing field"])
def test_what_is_not_there_reads_absent(obj, path):
    assert get(obj, path) is ABSENT


def test_removing_by_key_pins_the_element_at_its_current_index():
    obj = table(TENANT, ROLE, PLAN)
    ops = patch_ops(obj, BY_ROLE, ROLE, ABSENT)
    assert ops == [{"op": "test", "path": "/spec/globalSecondaryIndexes/1", "value": ROLE},
                   {"op": "remove", "path": "/spec/globalSecondaryIndexes/1"}]
    assert applied(obj, ops) == table(TENANT, PLAN) == put(obj, BY_ROLE, ABSENT)


def test_a_patch_made_before_the_list_was_reordered_is_refused_whole():
    ops = patch_ops(table(TENANT, ROLE, PLAN), BY_ROLE, ROLE, ABSENT)
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        applied(table(PLAN, TENANT, ROLE), ops)  # ACK wrote the list back in AWS's order meanwhile


def test_a_removed_element_restored_after_a_reorder_is_byte_identical_and_single():
    removed = applied(table(TENANT, ROLE, PLAN), patch_ops(table(TENANT, ROLE, PLAN), BY_ROLE, ROLE, ABSENT))
    reordered = table(PLAN, TENANT)
    assert removed != reordered  # the write-back really moved the list
    restore = patch_ops(reordered, BY_ROLE, ABSENT, ROLE)
    assert restore == [{"op": "test", "path": "/spec/globalSecondaryIndexes", "value": [PLAN, TENANT]},
                       {"op": "add", "path": "/spec/globalSecondaryIndexes/-", "value": ROLE}]
    restored = applied(reordered, restore)
    assert get(restored, BY_ROLE) == ROLE
    assert [i["indexName"] for i in restored["spec"]["globalSecondaryIndexes"]] == ["ByPlan", "ByTenant", "ByRole"]
    with pytest.raises(PointerError, match="not the expected ABSENT"):
        patch_ops(restored, BY_ROLE, ABSENT, ROLE)  # a second restore would duplicate it: refused


def test_an_append_is_refused_if_the_list_changed_since_it_was_read():
    ops = patch_ops(table(PLAN, TENANT), BY_ROLE, ABSENT, ROLE)
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        applied(table(PLAN, TENANT, ROLE), ops)  # someone added ByRole in between: no duplicate


def test_a_change_inside_an_element_pins_the_element_by_its_key():
    obj = table(TENANT, ROLE)
    path = BY_ROLE + "/provisionedThroughput/readCapacityUnits"
    ops = patch_ops(obj, path, 0, 5)
    assert ops[0] == {"op": "test", "path": "/spec/globalSecondaryIndexes/1/indexName", "value": "ByRole"}
    assert get(applied(obj, ops), path) == 5 and get(applied(obj, ops), "/spec/globalSecondaryIndexes[indexName="
                                                                          "ByTenant]") == TENANT
    swapped = table(TENANT, {**PLAN, "provisionedThroughput": {"readCapacityUnits": 0}})
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        applied(swapped, ops)  # same value at the same index, but another index: refused


def test_the_first_element_of_a_missing_list_makes_the_list():
    obj = {"spec": {"tableName": "users"}}
    ops = patch_ops(obj, BY_ROLE, ABSENT, ROLE)
    assert ops == [{"op": "add", "path": "/spec/globalSecondaryIndexes", "value": [ROLE]}]
    assert applied(obj, ops) == put(obj, BY_ROLE, ROLE) == table(ROLE)


def test_several_keys_must_all_match_and_values_compare_as_text():
    obj = {"spec": {"groups": [{"id": "0001", "zone": "a"}, {"id": 7, "zone": "b"}]}}
    assert get(obj, "/spec/groups[id=0001,zone=a]") == {"id": "0001", "zone": "a"}
    assert get(obj, "/spec/groups[id=0001,zone=b]") is ABSENT
    assert get(obj, "/spec/groups[id=7]/zone") == "b"


def test_escapes_follow_rfc_6901():
    assert steps("/metadata/annotations/a~1b~0c") [-1].name == "a/b~c"
    assert get({"spec": {"l": [{"k": "x/y"}]}}, "/spec/l[k=x~1y]") == {"k": "x/y"}


@pytest.mark.parametrize("path, message", [
    ("spec/x", "must start with /"),
    ("/spec/globalSecondaryIndexes[indexName]", "is not key=value"),
    ("/spec/globalSecondaryIndexes[indexName=a=b]", "is not key=value"),
    ("/spec/globalSecondaryIndexes[indexName=ByRole", "is not a field name"),
    ("/spec/globalSecondaryIndexes/1", "by position; name its element by key"),
    ("/spec/globalSecondaryIndexes/1/indexName", "by position; name its element by key"),
    ("/spec/tableName[indexName=ByRole]", "tableName is not a list"),
], ids=["relative", "no value", "two equals", "unclosed", "an index", "inside an index", "not a list"])
def test_malformed_paths_are_refused_saying_why(path, message):
    with pytest.raises(PointerError, match=message):
        get(table(TENANT, ROLE), path)


def test_a_key_matching_two_elements_names_no_one():
    with pytest.raises(PointerError, match="2 elements of globalSecondaryIndexes match"):
        get(table(ROLE, ROLE), BY_ROLE)


def test_an_element_put_by_key_must_carry_that_key():
    with pytest.raises(PointerError, match="indexName='ByRole'"):
        patch_ops(table(TENANT), BY_ROLE, ABSENT, PLAN)
    with pytest.raises(PointerError, match="indexName='ByRole'"):
        put(table(TENANT), BY_ROLE, PLAN)


def test_a_stale_expectation_is_a_conflict_before_any_patch():
    with pytest.raises(PointerError, match="not the expected"):
        patch_ops(table(TENANT), BY_ROLE, ROLE, ABSENT)  # already gone: no index to pin
    assert patch_ops(table(TENANT), BY_ROLE, ABSENT, ABSENT) == []


def test_put_changes_only_a_copy_and_needs_the_parents():
    obj = table(TENANT, ROLE)
    changed = put(obj, BY_ROLE + "/projection/projectionType", "ALL")
    assert get(changed, BY_ROLE + "/projection/projectionType") == "ALL" and obj == table(TENANT, ROLE)
    with pytest.raises(PointerError, match="no element"):
        put(obj, "/spec/globalSecondaryIndexes[indexName=ByPlan]/projection", {})
    with pytest.raises(PointerError, match="nothing to remove"):
        put(obj, "/spec/streamSpecification", ABSENT)

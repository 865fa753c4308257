"""DynamoDB tables: one object per table, keyed and named by the table, and a change to one
table's parameters touches that table's object only, and only the fields it should."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tap_optimizer.composition.render.common import EXTERNAL_NAME, Platform, Resources, zones
from tap_optimizer.composition.render.tables import render_tables
from tap_optimizer.platform.parameters import defaulted_parameters
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_platform import references

DEFAULT_TABLES = defaulted_parameters({})["tables"]


def shared_keys(platform: Platform) -> set[str]:
    """The keys other renderers promise to render, which any renderer may reference."""
    db = platform.params["database"]
    return {
        "kms-key", "kms-alias", "vpc", "sg-alb", "sg-app", "sg-database", "sg-cache",
        "database-cluster", "database-writer", "cache-replication-group", "compute-asg", "lb-alb",
        "lb-tg-api", "lb-tg-admin", "lb-tg-metrics",
        *(f"subnet-{tier}-{z}" for tier in ("public", "private", "isolated") for z in zones(platform)),
        *(f"database-reader-{i}" for i in range(db["readerCount"])),
        *(f"table-{name}" for name in platform.params["tables"]),
    }


def dangling(platform: Platform, rendered: Resources) -> list[tuple[str, str, str]]:
    """(key, field, name) of every reference to neither a rendered nor a shared key."""
    names = {platform.object_name(key) for key in rendered.keys() | shared_keys(platform)}
    return [(key, path, name) for key, obj in rendered.items()
            for path, name in references(obj["spec"]) if name not in names]


def tables_with(change: Any) -> dict[str, Any]:
    """The default tables, changed in place by `change`."""
    tables = copy.deepcopy(DEFAULT_TABLES)
    change(tables)
    return tables


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


def test_default_tables_render_one_valid_object_each():
    platform = make_platform()
    rendered = render_tables(platform)
    assert_valid(rendered)
    assert set(rendered) == {"table-tenants", "table-users", "table-audit_logs"}
    assert {obj["kind"] for obj in rendered.values()} == {"Table"}
    assert dangling(platform, rendered) == []


@pytest.mark.parametrize(("table", "name", "keys", "indexes"), [
    ("tenants", "tap-prod-tenants", ("tenant_id", "created_at"),
     ["ByDomain", "ByOwner", "ByPlan", "ByStatus"]),
    ("users", "tap-prod-users", ("user_id", "tenant_id"),
     ["ByEmail", "ByRole", "ByStatus", "ByTenant"]),
    ("audit_logs", "tap-prod-audit_logs", ("log_id", "timestamp"),
     ["ByAction", "BySeverity", "ByTenant", "ByUser"]),
], ids=["tenants", "users", "audit_logs keeps its underscore in the AWS name"])
def test_each_table_carries_its_parameters(table, name, keys, indexes):
    rendered = render_tables(make_platform())
    obj, body = rendered[f"table-{table}"], for_provider(rendered, f"table-{table}")
    assert obj["metadata"]["annotations"][EXTERNAL_NAME] == name
    assert (body["hashKey"], body["rangeKey"]) == keys
    assert [index["name"] for index in body["globalSecondaryIndex"]] == indexes
    assert body["billingMode"] == "PAY_PER_REQUEST"
    assert (body["streamEnabled"], body["streamViewType"]) == (True, "NEW_AND_OLD_IMAGES")
    assert body["pointInTimeRecovery"] == {"enabled": True}
    assert body["serverSideEncryption"] == {"enabled": True, "kmsKeyArnRef": {"name": "tap-prod-kms-key"}}


def test_attribute_definitions_are_the_key_attributes_deduplicated_and_sorted():
    body = for_provider(render_tables(make_platform()), "table-users")
    names = ["created_at", "email", "last_login", "role", "status", "tenant_id", "user_id"]
    assert body["attribute"] == [{"name": name, "type": "S"} for name in names]
    by_email = next(index for index in body["globalSecondaryIndex"] if index["name"] == "ByEmail")
    assert by_email == {"name": "ByEmail", "hashKey": "email", "rangeKey": "user_id", "projectionType": "ALL"}


def test_the_order_of_the_parameters_does_not_change_the_output():
    def backwards(mapping: dict[str, Any]) -> dict[str, Any]:
        return dict(reversed(mapping.items()))

    reversed_tables = {name: {**spec, "globalSecondaryIndexes": backwards(spec["globalSecondaryIndexes"])}
                       for name, spec in backwards(DEFAULT_TABLES).items()}
    assert render_tables(make_platform(tables=reversed_tables)) == render_tables(make_platform())


def test_a_table_without_range_key_or_indexes_has_neither():
    rendered = render_tables(make_platform(tables={"sessions": {"hashKey": "session_id"}}))
    assert_valid(rendered)
    body = for_provider(rendered, "table-sessions")
    assert body["attribute"] == [{"name": "session_id", "type": "S"}]
    assert "rangeKey" not in body and "globalSecondaryIndex" not in body


def _nothing(tables: dict[str, Any]) -> None:
    """The default tables as they are."""


def _drop_index(table: str, index: str):
    return lambda tables: tables[table]["globalSecondaryIndexes"].pop(index)


def _set(table: str, index: str | None = None, **fields: Any):
    """Set fields of a table, or of one of its indexes."""
    def change(tables: dict[str, Any]) -> None:
        spec = tables[table] if index is None else tables[table]["globalSecondaryIndexes"][index]
        spec.update(fields)
    return change


def _add_shared_index(tables: dict[str, Any]) -> None:
    """An index on attributes that other indexes of the table use as well."""
    index = {"hashKey": "plan_type", "rangeKey": "status"}
    tables["tenants"]["globalSecondaryIndexes"]["ByPlanStatus"] = index


CHANGES = [
    pytest.param(_nothing, _drop_index("users", "ByRole"), {"modified": {"table-users"}},
                 {"globalSecondaryIndex", "attribute"},
                 id="dropping the only index on an attribute drops its definition too"),
    pytest.param(_add_shared_index, _drop_index("tenants", "ByPlanStatus"), {"modified": {"table-tenants"}},
                 {"globalSecondaryIndex"},
                 id="dropping an index whose attributes stay in use changes the index list only"),
    pytest.param(_nothing, _set("audit_logs", streamEnabled=False), {"modified": {"table-audit_logs"}},
                 {"streamEnabled", "streamViewType"},
                 id="disabling a stream changes only that table and drops its view type"),
    pytest.param(_nothing, _set("users", streamViewType="KEYS_ONLY"), {"modified": {"table-users"}},
                 {"streamViewType"}, id="a stream view type changes only its table"),
    pytest.param(_nothing, _set("tenants", pointInTimeRecovery=False), {"modified": {"table-tenants"}},
                 {"pointInTimeRecovery"}, id="point-in-time recovery is per table"),
    pytest.param(_nothing, _set("users", "ByEmail", projection="KEYS_ONLY"), {"modified": {"table-users"}},
                 {"globalSecondaryIndex"}, id="a projection changes only its table's index list"),
    pytest.param(_nothing, lambda tables: tables.update(sessions={"hashKey": "session_id"}),
                 {"added": {"table-sessions"}}, set(), id="adding a table adds exactly one object"),
    pytest.param(_nothing, lambda tables: tables.pop("audit_logs"),
                 {"removed": {"table-audit_logs"}}, set(), id="removing a table removes exactly its object"),
]


@pytest.mark.parametrize(("before", "change", "wanted", "fields"), CHANGES)
def test_a_table_change_touches_only_its_object_and_fields(before, change, wanted, fields):
    tables = tables_with(before)
    old = render_tables(make_platform(tables=tables))
    new = render_tables(make_platform(tables=tables_with(lambda t: (before(t), change(t)))))
    assert_valid(new)
    assert diff(old, new) == {"added": set(), "removed": set(), "modified": set(), **wanted}
    changed = set()
    for key in wanted.get("modified", ()):
        a, b = for_provider(old, key), for_provider(new, key)
        changed |= {field for field in a.keys() | b.keys() if a.get(field) != b.get(field)}
    assert changed == fields


def test_a_disabled_stream_has_no_view_type():
    rendered = render_tables(make_platform(tables={"t": {"hashKey": "id", "streamEnabled": False}}))
    assert_valid(rendered)
    body = for_provider(rendered, "table-t")
    assert body["streamEnabled"] is False and "streamViewType" not in body

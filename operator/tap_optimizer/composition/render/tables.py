"""DynamoDB tables, one object per entry of `tables`: on demand, KMS-encrypted, point-in-time
recovery, with their global secondary indexes and stream.

A table's AWS name is `<platform>-<table>` (its external name), so metrics and the analyzer find it
by name. Attribute definitions are derived from the keys in use, because DynamoDB refuses a
definition no key uses: dropping the only index on an attribute drops its definition in the same
update. Lists are sorted so that the same parameters always render the same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_optimizer.composition.render.common import Platform, Resource, Resources, managed

KEY_FIELDS = ("hashKey", "rangeKey")


def table_name(platform: Platform, table: str) -> str:
    """The table's AWS name: the adopted one, else `<platform>-<table>`."""
    return platform.aws_name(f"table-{table}", f"{platform.name}-{table}")


def render_tables(platform: Platform) -> Resources:
    tables = platform.params["tables"]
    return {f"table-{name}": _table(platform, name, tables[name]) for name in sorted(tables)}


def _keys(spec: Mapping[str, Any]) -> dict[str, str]:
    """The hash and range key of a table or an index, as given."""
    return {field: spec[field] for field in KEY_FIELDS if field in spec}


def _attributes(spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """One string attribute per name used by the table key or an index key."""
    names = set(_keys(spec).values())
    for index in spec["globalSecondaryIndexes"].values():
        names.update(_keys(index).values())
    return [{"name": name, "type": "S"} for name in sorted(names)]


def _index(name: str, index: Mapping[str, Any]) -> dict[str, Any]:
    return {"name": name, **_keys(index), "projectionType": index["projection"]}


def _stream(spec: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB takes a view type only with an enabled stream."""
    if spec["streamEnabled"]:
        return {"streamEnabled": True, "streamViewType": spec["streamViewType"]}
    return {"streamEnabled": False}


def _table(platform: Platform, name: str, spec: Mapping[str, Any]) -> Resource:
    indexes = spec["globalSecondaryIndexes"]
    body: dict[str, Any] = {
        **_keys(spec),
        "billingMode": "PAY_PER_REQUEST",
        "attribute": _attributes(spec),
        **_stream(spec),
        "pointInTimeRecovery": {"enabled": spec["pointInTimeRecovery"]},
        "serverSideEncryption": {"enabled": True, "kmsKeyArnRef": platform.ref("kms-key")},
    }
    if indexes:
        body["globalSecondaryIndex"] = [_index(index, indexes[index]) for index in sorted(indexes)]
    return managed(platform, f"table-{name}", "dynamodb/Table", body, component="table",
                   external_name=table_name(platform, name))

"""DynamoDB tables, one object per entry of `tables`: on demand, KMS-encrypted, point-in-time
recovery, with their GSIs and stream. A table's AWS name is `<platform>-<table>`.

Attribute definitions are derived from the keys in use, because DynamoDB refuses a definition
no key uses: dropping the only index on an attribute drops its definition in the same update.
"""

from __future__ import annotations

from typing import Any

from tap_optimizer.composition.render.common import Platform, Resources, managed


def table_name(platform: Platform, table: str) -> str:
    return f"{platform.name}-{table}"


def render_tables(platform: Platform) -> Resources:
    return {f"table-{name}": _table(platform, name, spec) for name, spec in sorted(platform.params["tables"].items())}


def _keys(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: spec[k] for k in ("hashKey", "rangeKey") if k in spec}


def _attributes(spec: dict[str, Any]) -> list[dict[str, str]]:
    indexes = spec.get("globalSecondaryIndexes") or {}
    names = {*_keys(spec).values(), *(v for index in indexes.values() for v in _keys(index).values())}
    return [{"name": name, "type": "S"} for name in sorted(names)]


def _table(platform: Platform, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    indexes = spec.get("globalSecondaryIndexes") or {}
    body: dict[str, Any] = {
        **_keys(spec),
        "billingMode": "PAY_PER_REQUEST",
        "attribute": _attributes(spec),
        "streamEnabled": spec["streamEnabled"],
        "pointInTimeRecovery": {"enabled": spec["pointInTimeRecovery"]},
        "serverSideEncryption": {"enabled": True, "kmsKeyArnRef": platform.ref("kms-key")},
        "deletionProtectionEnabled": True,
    }
    if spec["streamEnabled"]:
        body["streamViewType"] = spec["streamViewType"]
    if indexes:
        body["globalSecondaryIndex"] = [
            {"name": index, **_keys(indexes[index]), "projectionType": indexes[index].get("projection", "ALL")}
            for index in sorted(indexes)
        ]
    return managed(platform, f"table-{name}", "dynamodb/Table", body, component="table",
                   external_name=table_name(platform, name))

"""One-way doors: changes whose "rollback" is re-creation, not a restore.

Found by comparing the parameters before and after a phase rather than by matching paths, so a
whole-map or whole-list replacement that drops something is caught as surely as a `remove`.
"""

from __future__ import annotations

from typing import Any


def one_way_doors(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What the change from before to after cannot undo, one sentence each."""
    return _dropped_indexes(before, after) + _disabled_streams(before, after) + _removed_regions(before, after)


def _tables(parameters: dict[str, Any]) -> dict[str, Any]:
    return parameters.get("tables") or {}


def _dropped_indexes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    doors = []
    for table, spec in sorted(_tables(before).items()):
        kept = (_tables(after).get(table) or {}).get("globalSecondaryIndexes") or {}
        for index in sorted(set(spec.get("globalSecondaryIndexes") or {}) - set(kept)):
            doors.append(f"drops GSI {table}/{index}: re-adding it rebuilds the index from the whole table")
    return doors


def _disabled_streams(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"disables the stream of table {table}: re-enabling gives a new stream ARN that consumers must re-point to"
        for table, spec in sorted(_tables(before).items())
        if spec.get("streamEnabled", True) and not (_tables(after).get(table) or {}).get("streamEnabled", True)
    ]


def _regions(parameters: dict[str, Any]) -> set[str]:
    return {r["region"] for r in (parameters.get("database") or {}).get("secondaryRegions") or []}


def _removed_regions(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"removes Aurora secondary region {region}: re-adding it re-replicates the whole database"
        for region in sorted(_regions(before) - _regions(after))
    ]

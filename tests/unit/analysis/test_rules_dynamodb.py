"""The DynamoDB rules: each fires on what it should and keeps everything else."""

from __future__ import annotations

import pytest

from tap_optimizer.analysis.rules import dynamodb
from tests.unit.analysis.conftest import context, daily, one, table

VISIBLE = {("table/users", "reads"): daily(5000.0), ("table/users", "writes"): daily(5000.0)}


def index_reads(per_day: float | None, **extra) -> dict:
    return {**VISIBLE, ("index/users/ByRole", "reads"): daily(per_day), ("index/users/ByEmail", "reads"): daily(900.0),
            **extra}


def by_index(outcomes: list) -> dict:
    return {o["resource"].rsplit(" ", 1)[1]: o for o in outcomes}


def test_weekly_totals_cover_whole_weeks_newest_last():
    assert dynamodb.weekly_totals([1.0] * 3 + [2.0] * 7 + [3.0] * 7, 1.0) == [14.0, 21.0]
    assert dynamodb.weekly_totals([None] * 7, 1.0) == [0.0]
    assert dynamodb.weekly_totals([1.0] * 28, 0.25) == [28.0]  # 6-hour periods


def test_an_index_read_less_than_50_times_every_week_is_dropped_with_its_cost():
    ctx = context({("index/users/ByRole", "writeUnits"): 60 * 24 * 1000.0}, index_reads(1.0))
    outcome = by_index(dynamodb.unused_indexes(ctx, table()))
    role = outcome["ByRole"]
    assert role["changes"] == [{"op": "remove", "path": "/spec/parameters/tables/users/globalSecondaryIndexes/ByRole"}]
    assert role["irreversible"] is True and role["evidence"]["maxWeeklyReads"] == 7.0
    # 24,000 write units a day -> 730,000 a month at $0.625/M, plus 2 GB at $0.25/GB-month
    assert role["projectedMonthlySavings"] == pytest.approx(730_000 / 1e6 * 0.625 + 2 * 0.25, abs=0.01)
    assert "changes" not in outcome["ByEmail"], "a busy index is kept"


def test_one_busy_week_keeps_an_index():
    reads = daily(1.0)
    reads[-3] = 60.0
    ctx = context(None, {**index_reads(1.0), ("index/users/ByRole", "reads"): reads})
    assert "changes" not in by_index(dynamodb.unused_indexes(ctx, table()))["ByRole"]


def test_a_table_without_any_datapoint_keeps_its_indexes():
    ctx = context(None, {("index/users/ByRole", "reads"): daily(None)})
    outcome = by_index(dynamodb.unused_indexes(ctx, table()))["ByRole"]
    assert "changes" not in outcome and "cannot be measured" in outcome["reason"]


def test_an_index_missing_from_the_platform_parameters_is_only_reported():
    ctx = context(None, {**VISIBLE, ("index/users/Legacy", "reads"): daily(None)})
    outcome = by_index(dynamodb.unused_indexes(ctx, table(indexes={"Legacy": None})))["Legacy"]
    assert "changes" not in outcome and "not declared" in outcome["reason"]


@pytest.mark.parametrize(("overrides", "reads", "why"), [
    ({"lambda_consumers": ("arn:aws:lambda:us-east-1:1:function:audit",)}, None, "consumed by"),
    ({"kinesis_destinations": ("arn:aws:kinesis:us-east-1:1:stream/x",)}, None, "consumed by"),
    ({}, 42.0, "GetRecords"),
])
def test_a_stream_with_any_consumer_is_kept(overrides, reads, why):
    ctx = context({("stream/users", "getRecords"): reads}, VISIBLE)
    outcome = one(dynamodb.unused_stream(ctx, table(**overrides)))
    assert "changes" not in outcome and why in outcome["reason"]


def test_a_stream_nobody_reads_is_disabled_as_a_one_way_door():
    outcome = one(dynamodb.unused_stream(context(None, VISIBLE), table()))
    assert outcome["changes"] == [{"op": "replace", "path": "/spec/parameters/tables/users/streamEnabled",
                                   "value": False}]
    assert outcome["irreversible"] is True and outcome["projectedMonthlySavings"] == 0.0


def test_no_stream_no_outcome_and_no_metrics_no_change():
    assert dynamodb.unused_stream(context(None, VISIBLE), table(stream_arn=None, stream_label=None)) == []
    assert "changes" not in one(dynamodb.unused_stream(context(), table()))


def test_quiet_tables_are_consolidation_candidates_only_in_pairs():
    quiet = {(f"table/{k}", m): daily(10.0) for k in ("users", "tenants") for m in ("reads", "writes")}
    found = dynamodb.consolidation(context(None, quiet), [table("users"), table("tenants")])
    assert [f["rule"] for f in found] == ["table-consolidation"] * 2
    assert all("changes" not in f for f in found)
    assert dynamodb.consolidation(context(None, quiet), [table("users")]) == []

"""The Aurora rules, and what policy must allow."""

from __future__ import annotations

import pytest

from tap_optimizer.analysis.rules import database
from tests.unit.analysis.conftest import PRIMARY, SECONDARIES, WINDOW, context, hourly, one, parameters

HOURS = 730
CLUSTER = "cluster/tap-prod-database-cluster"
QUIET = {(CLUSTER, "writerCpu"): 30.0, (CLUSTER, "replicaLag"): 20.0, (CLUSTER, "readIops"): 100.0,
         (CLUSTER, "writeIops"): 900.0, (CLUSTER, "backupBytes"): 800e9}
SECONDARY = {("cluster/west", "selects"): 0.0, ("cluster/west", "connections"): 0.0,
             ("cluster/eu", "selects"): 40.0, ("cluster/eu", "connections"): 3.0}


def writer_hours(cpu: float | None = 30.0, connections: float | None = 600.0) -> dict:
    return {(CLUSTER, "writerCpu"): hourly(cpu), (CLUSTER, "writerConnections"): hourly(connections)}


def test_a_quiet_writer_gets_the_cheapest_class_that_fits_within_the_risk():
    # 30 % of db.r6g.4xlarge: db.r6g.2xlarge at 60 % (risk 2), db.r6g.xlarge at 120 % (does not fit)
    outcome = one(database.writer(context(QUIET, profiles=writer_hours()), PRIMARY))
    assert outcome["changes"][0]["value"] == "db.r6g.2xlarge"
    assert (outcome["riskScore"], outcome["risk"]) == (2, "medium")
    assert outcome["options"][0]["projected"] == [
        {"dimension": "CPU", "p95Percent": 60.0, "peakPercent": 60.0, "limitPercent": 75.0},
        {"dimension": "connections", "p95Percent": 20.0, "peakPercent": 20.0, "limitPercent": 75.0}]
    assert outcome["projectedMonthlySavings"] == pytest.approx((2.076 - 1.038) * HOURS, abs=0.01)


def test_a_writer_measured_for_less_than_30_hours_of_the_window_is_kept():
    # restored from a snapshot a day ago: 24 quiet hours (10 %) of the 60 days planned db.r6g.xlarge
    # (40 %) on one Sunday; Compute Optimizer asks 30 hours at least
    day = [None] * (len(WINDOW.hours()) - 24) + [10.0] * 24
    profiles = {(CLUSTER, "writerCpu"): day, (CLUSTER, "writerConnections"): day}
    kept = one(database.writer(context(QUIET, profiles=profiles), PRIMARY))
    assert kept["reason"] == "Kept: 24 hours of hourly writer CPU and connections measured, fewer than 30."
    longer = [None] * (len(WINDOW.hours()) - 30) + [10.0] * 30
    profiles = {(CLUSTER, "writerCpu"): longer, (CLUSTER, "writerConnections"): longer}
    assert one(database.writer(context(QUIET, profiles=profiles), PRIMARY))["changes"][0]["value"] == "db.r6g.xlarge"


def test_a_short_spike_the_hours_p95_leaves_out_is_the_writers_peak():
    # a 2-minute job at 95 % CPU once a day is under each hour's p95 (30 %); with the hours' Maximum
    # db.r6g.2xlarge would run it at 190 %: kept. Without the job the same hours plan db.r6g.2xlarge.
    spikes = [95.0 if h % 24 == 2 else 30.0 for h in range(len(WINDOW.hours()))]
    profiles = writer_hours() | {(CLUSTER, "writerCpuPeak"): spikes}
    kept = one(database.writer(context(QUIET, profiles=profiles), PRIMARY))
    assert "changes" not in kept
    assert {o["target"]: o["projected"][0] for o in kept["options"]}["db.r6g.2xlarge"] == {
        "dimension": "CPU", "p95Percent": 60.0, "peakPercent": 190.0, "limitPercent": 75.0}
    calm = writer_hours() | {(CLUSTER, "writerCpuPeak"): hourly(31.0)}  # 62 %: risk 2
    assert one(database.writer(context(QUIET, profiles=calm), PRIMARY))["changes"][0]["value"] == "db.r6g.2xlarge"


def test_a_lower_risk_allowed_or_more_headroom_keeps_the_writer():
    strict = context(QUIET, profiles=writer_hours(), config={"sizing": {"maxRisk": 1}})
    assert "changes" not in one(database.writer(strict, PRIMARY))
    roomy = context(QUIET, profiles=writer_hours(), config={"sizing": {"headroomPercent": 45}})
    kept = one(database.writer(roomy, PRIMARY))
    assert "changes" not in kept and "(limit 55 %)" in kept["reason"]


def test_connections_beyond_a_smaller_class_max_connections_keep_the_writer():
    # db.r6g.2xlarge allows 3,000 connections by default: 2,400 is 80 % of it
    kept = one(database.writer(context(QUIET, profiles=writer_hours(connections=2400.0)), PRIMARY))
    assert "changes" not in kept and "connections p95 80 %" in kept["reason"]


@pytest.mark.parametrize("cpu", [40.0, None])
def test_a_busy_or_unmeasured_writer_is_kept(cpu):
    assert "changes" not in one(database.writer(context({**QUIET, (CLUSTER, "writerCpu"): cpu},
                                                    profiles=writer_hours()), PRIMARY))


def test_a_writer_without_an_hourly_profile_or_a_smaller_class_is_kept_saying_so():
    # both said "no option for ... fits within risk 2", as if a smaller class had been judged
    kept = one(database.writer(context(QUIET, profiles=writer_hours(connections=None)), PRIMARY))
    assert "changes" not in kept
    assert kept["reason"] == "Kept: 0 hours of hourly writer CPU and connections measured, fewer than 30."
    params = parameters()
    params["database"]["writerInstanceClass"] = "db.r6g.large"
    smallest = one(database.writer(context(QUIET, profiles=writer_hours(), parameters=params), PRIMARY))
    assert smallest["reason"] == "Kept: no smaller class of db.r6g in the instance facts."


def reader_hours(cpu: float = 20.0, connections: float = 300.0) -> dict:
    return {(CLUSTER, "readerCpu"): hourly(cpu), (CLUSTER, "readerConnections"): hourly(connections)}


def test_readers_drop_to_one_when_lag_and_reads_are_low_and_one_carries_both_loads():
    # 2 readers at 20 % CPU and 300 connections each: one db.r6g.4xlarge at 40 % and 600 of 4,000 (15 %)
    outcome = one(database.readers(context(QUIET, profiles=reader_hours()), PRIMARY))
    assert outcome["changes"] == [{"op": "replace", "path": "/spec/parameters/database/readerCount", "value": 1}]
    assert outcome["options"][0]["projected"] == [
        {"dimension": "CPU", "p95Percent": 40.0, "peakPercent": 40.0, "limitPercent": 75.0},
        {"dimension": "connections", "p95Percent": 15.0, "peakPercent": 15.0, "limitPercent": 75.0}]
    assert (outcome["riskScore"], outcome["projectedMonthlySavings"]) == (1, pytest.approx(2.076 * HOURS, abs=0.01))


def test_readers_whose_load_one_reader_could_not_carry_are_kept():
    kept = one(database.readers(context(QUIET, profiles=reader_hours(cpu=40.0)), PRIMARY))
    assert "changes" not in kept and "best: 1 x db.r6g.4xlarge: CPU p95 80 %" in kept["reason"]
    assert "hourly reader" in one(database.readers(context(QUIET), PRIMARY))["reason"]


def test_a_reader_target_of_none_puts_the_readers_load_on_the_writer():
    # targets.readerCount 0 (the TapPlatform allows 0 readers) divided the readers' load by 0 readers.
    # 2 db.r6g.4xlarge readers at 20 % CPU and 300 connections, a db.r6g.4xlarge writer at 30 % and 600:
    # with no reader the writer runs 30 + 2 x 20 = 70 % and 1,200 of 4,000 connections (30 %).
    config = {"targets": {"readerCount": 0}}
    busy = one(database.readers(context(QUIET, config=config, profiles=reader_hours() | writer_hours()), PRIMARY))
    assert busy["changes"][0]["value"] == 1
    none_left = next(o for o in busy["options"] if o["readerCount"] == 0)
    assert (none_left["fits"], none_left["riskScore"]) == (True, 3)
    assert none_left["projected"] == [
        {"dimension": "writer CPU", "p95Percent": 70.0, "peakPercent": 70.0, "limitPercent": 75.0},
        {"dimension": "writer connections", "p95Percent": 30.0, "peakPercent": 30.0, "limitPercent": 75.0}]
    # a quieter writer (10 %) carries them at 50 %: no reader, the readers' whole cost saved
    quiet = one(database.readers(context(QUIET, config=config, profiles=reader_hours() | writer_hours(cpu=10.0)),
                                 PRIMARY))
    assert quiet["changes"][0]["value"] == 0 and quiet["riskScore"] == 1
    assert quiet["projectedMonthlySavings"] == pytest.approx(2 * 2.076 * HOURS, abs=0.01)
    # without the writer's hours the last reader stays
    assert one(database.readers(context(QUIET, config=config, profiles=reader_hours()), PRIMARY))[
        "changes"][0]["value"] == 1


@pytest.mark.parametrize(("metric", "value"), [("replicaLag", 100.0), ("readIops", 300.0), ("writeIops", None)])
def test_readers_are_kept_on_lag_read_share_or_missing_data(metric, value):
    ctx = context({**QUIET, (CLUSTER, metric): value}, profiles=reader_hours())
    assert "changes" not in one(database.readers(ctx, PRIMARY))


def test_idle_secondaries_stay_unless_policy_allows_removal():
    (west, eu) = database.secondary_regions(context(SECONDARY), list(SECONDARIES))
    assert "allowSecondaryRegionRemoval" in west["reason"] and "changes" not in west
    assert "served reads" in eu["reason"]


def test_allowed_removal_replaces_the_list_without_the_idle_region():
    found = database.secondary_regions(context(SECONDARY, config={"policy": {"allowSecondaryRegionRemoval": True}}),
                                       list(SECONDARIES))
    (recommendation,) = [o for o in found if "changes" in o]
    (change,) = recommendation["changes"]
    assert change["path"] == "/spec/parameters/database/secondaryRegions"
    assert [r["region"] for r in change["value"]] == ["eu-west-1"]
    assert recommendation["irreversible"] is True
    assert recommendation["projectedMonthlySavings"] == pytest.approx(2.076 * HOURS, abs=0.01)


def test_a_secondary_without_metrics_or_cluster_is_kept():
    partial = {("cluster/west", "selects"): 0.0}
    found = database.secondary_regions(context(partial, config={"policy": {"allowSecondaryRegionRemoval": True}},
                                               clusters=(PRIMARY,)), [])
    assert all("changes" not in o for o in found)
    assert {o["reason"] for o in found} == {"Kept: its cluster was not found."}


def test_backup_retention_changes_only_by_policy():
    assert "not set" in one(database.backup_retention(context(QUIET), PRIMARY))["reason"]
    outcome = one(database.backup_retention(context(QUIET, config={"policy": {"backupRetentionDays": 14}}), PRIMARY))
    assert outcome["changes"][0]["value"] == 14
    assert outcome["projectedMonthlySavings"] == pytest.approx(800 * (1 - 14 / 30) * 0.021, abs=0.01)
    assert database.backup_retention(context(QUIET, config={"policy": {"backupRetentionDays": 35}}), PRIMARY) == []

"""Alarms on the Aurora writer and the dashboard: what they watch, that they name resources by
the AWS names the other renderers give them, and that right-sizing never touches the dashboard."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_optimizer.composition.render.cache import render_cache
from tap_optimizer.composition.render.common import EXTERNAL_NAME, Resources
from tap_optimizer.composition.render.compute import render_compute
from tap_optimizer.composition.render.database import render_database
from tap_optimizer.composition.render.loadbalancer import render_load_balancer
from tap_optimizer.composition.render.monitoring import render_monitoring
from tap_optimizer.composition.render.tables import render_tables
from tests.support.platforms import diff
from tests.unit.composition.conftest import assert_valid, make_platform
from tests.unit.composition.test_render_tables import dangling


def for_provider(rendered: Resources, key: str) -> dict[str, Any]:
    return rendered[key]["spec"]["forProvider"]


def dashboard(rendered: Resources) -> dict[str, Any]:
    return json.loads(for_provider(rendered, "dashboard")["dashboardBody"])


def external_name(rendered: Resources, key: str) -> str:
    return rendered[key]["metadata"]["annotations"][EXTERNAL_NAME]


def test_alarms_and_dashboard_validate_and_reference_nothing_unknown():
    platform = make_platform()
    rendered = render_monitoring(platform)
    assert_valid(rendered)
    assert set(rendered) == {"alarm-database-cpu", "alarm-database-connections", "dashboard"}
    assert dangling(platform, rendered) == []


@pytest.mark.parametrize(("key", "metric", "threshold"), [
    ("alarm-database-cpu", "CPUUtilization", 65),
    ("alarm-database-connections", "DatabaseConnections", 5000),
], ids=["CPU above cpuAlarmPercent", "connections above connectionsAlarmThreshold"])
def test_each_alarm_watches_the_writer_against_its_parameter(key, metric, threshold):
    platform = make_platform(database={"cpuAlarmPercent": 65, "connectionsAlarmThreshold": 5000})
    alarm = for_provider(render_monitoring(platform), key)
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/RDS", metric)
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", threshold)
    assert alarm["dimensions"] == {"DBClusterIdentifier": "tap-prod-database-cluster", "Role": "WRITER"}


def test_every_dimension_value_is_the_aws_name_another_renderer_fixes():
    """The alarms and the dashboard find resources by name: those names must be the ones their
    renderers set (external names, or the ALB's name), or the metrics would be empty."""
    platform = make_platform()
    body = for_provider(render_monitoring(platform), "alarm-database-cpu")
    cluster = external_name(render_database(platform), "database-cluster")
    assert body["dimensions"]["DBClusterIdentifier"] == cluster
    text = for_provider(render_monitoring(platform), "dashboard")["dashboardBody"]
    names = [external_name(render_compute(platform), "compute-asg"),
             external_name(render_cache(platform), "cache-replication-group"),
             for_provider(render_load_balancer(platform), "lb-alb")["name"],
             *(external_name(render_tables(platform), key) for key in render_tables(platform))]
    assert [name for name in names if f'"{name}"' not in text and f" {name}'" not in text] == []


def test_the_dashboard_covers_every_tier_in_the_platforms_region():
    widgets = dashboard(render_monitoring(make_platform(region="eu-west-1")))["widgets"]
    assert {w["properties"]["region"] for w in widgets} == {"eu-west-1"}
    lines = [json.dumps(line) for w in widgets for line in w["properties"]["metrics"]]
    wanted = {"AWS/ApplicationELB": ["RequestCount", "TargetResponseTime"], "AWS/EC2": ["CPUUtilization"],
              "AWS/RDS": ["CPUUtilization", "DatabaseConnections"],
              "AWS/ElastiCache": ["EngineCPUUtilization", "DatabaseMemoryUsagePercentage"],
              "AWS/DynamoDB": ["ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"]}
    missing = [(namespace, metric) for namespace, metrics in wanted.items() for metric in metrics
               if not any(namespace in line and metric in line for line in lines)]
    assert missing == []
    aurora_cpu = [line for w in widgets for line in w["properties"]["metrics"]
                  if line[:2] == ["AWS/RDS", "CPUUtilization"]]
    cluster = ["DBClusterIdentifier", "tap-prod-database-cluster"]
    assert [line[2:] for line in aurora_cpu] == [[*cluster, "Role", role] for role in ("WRITER", "READER")]


CHANGES = [
    pytest.param({"database": {"cpuAlarmPercent": 70}}, {"alarm-database-cpu"},
                 id="the CPU threshold changes only its alarm"),
    pytest.param({"database": {"connectionsAlarmThreshold": 9000}}, {"alarm-database-connections"},
                 id="the connections threshold changes only its alarm"),
    pytest.param({"database": {"readerCount": 1, "writerInstanceClass": "db.r6g.xlarge"}}, set(),
                 id="database right-sizing touches no monitoring object"),
    pytest.param({"cache": {"shards": 2, "replicasPerShard": 1, "nodeType": "cache.r6g.xlarge"}}, set(),
                 id="cache right-sizing leaves the dashboard alone although node ids change"),
    pytest.param({"compute": {"instanceType": "m5.2xlarge", "minSize": 6, "desiredCapacity": 8,
                              "maxSize": 15}}, set(), id="compute right-sizing touches no monitoring object"),
    pytest.param({"tables": {"tenants": {"hashKey": "tenant_id"}}}, {"dashboard"},
                 id="the set of tables changes the dashboard only"),
]


@pytest.mark.parametrize(("changes", "modified"), CHANGES)
def test_a_parameter_change_touches_only_the_monitoring_objects_it_should(changes, modified):
    before, after = render_monitoring(make_platform()), render_monitoring(make_platform(**changes))
    assert diff(before, after) == {"added": set(), "removed": set(), "modified": modified}

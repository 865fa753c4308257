"""CloudWatch alarms on the Aurora writer (CPU and connections) and the platform's dashboard.

Everything here names resources by the AWS names the other renderers fix (cluster identifier,
group and table names). Where AWS picks the dimension value itself (the ALB's ARN suffix, the
Redis node ids, which change with the shard and replica counts), the dashboard searches for the
fixed name instead, so the dashboard is a function of the parameters alone and a right-sizing
phase never touches it.
"""

from __future__ import annotations

import json
from typing import Any

from tap_optimizer.composition.render.cache import replication_group_id
from tap_optimizer.composition.render.common import Platform, Resource, Resources, managed
from tap_optimizer.composition.render.compute import asg_name
from tap_optimizer.composition.render.database import cluster_identifier
from tap_optimizer.composition.render.loadbalancer import load_balancer_name
from tap_optimizer.composition.render.tables import table_name

PERIOD = 300
# A CloudWatch dashboard metric line: [namespace, metric, dimension, value, ..., {options}]
Metric = list[Any]


def render_monitoring(platform: Platform) -> Resources:
    db = platform.params["database"]
    return {
        "alarm-database-cpu": _writer_alarm(
            platform, "alarm-database-cpu", "CPUUtilization", db["cpuAlarmPercent"], "Aurora writer CPU (%)"),
        "alarm-database-connections": _writer_alarm(
            platform, "alarm-database-connections", "DatabaseConnections", db["connectionsAlarmThreshold"],
            "Aurora writer connections"),
        "dashboard": managed(platform, "dashboard", "cloudwatch/Dashboard",
                             {"dashboardBody": json.dumps(_dashboard(platform), sort_keys=True)},
                             component="monitoring", tagged=False),
    }


def _role_dimensions(platform: Platform, role: str) -> dict[str, str]:
    """Aurora publishes its cluster metrics per role too: WRITER follows the writer across failovers."""
    return {"DBClusterIdentifier": cluster_identifier(platform), "Role": role}


def _aurora(platform: Platform, metric: str, role: str) -> Metric:
    return ["AWS/RDS", metric, *(part for item in _role_dimensions(platform, role).items() for part in item)]


def _writer_alarm(platform: Platform, key: str, metric: str, threshold: float, what: str) -> Resource:
    return managed(platform, key, "cloudwatch/MetricAlarm", {
        "alarmDescription": f"TAP {platform.name}: {what} above {threshold}",
        "namespace": "AWS/RDS",
        "metricName": metric,
        "dimensions": _role_dimensions(platform, "WRITER"),
        "statistic": "Average",
        "period": PERIOD,
        "evaluationPeriods": 2,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": threshold,
    }, component="monitoring")


def _search(ident: str, namespace: str, dimension: str, metric: str, name: str, stat: str) -> Metric:
    """Every series of `metric` whose `dimension` value contains the AWS name `name`."""
    query = f'{{{namespace},{dimension}}} MetricName="{metric}" {name}'
    return [{"id": ident, "expression": f"SEARCH('{query}', '{stat}', {PERIOD})", "label": metric}]


def _widget(platform: Platform, title: str, metrics: list[Metric], stat: str = "Average") -> dict[str, Any]:
    return {"type": "metric", "width": 12, "height": 6, "properties": {
        "title": title, "region": platform.region, "view": "timeSeries", "stat": stat, "period": PERIOD,
        "metrics": metrics}}


def _dashboard(platform: Platform) -> dict[str, Any]:
    alb, cache = load_balancer_name(platform), replication_group_id(platform)
    elb, redis = ("AWS/ApplicationELB", "LoadBalancer"), ("AWS/ElastiCache", "CacheClusterId")
    tables = [["AWS/DynamoDB", metric, "TableName", table_name(platform, table)]
              for table in sorted(platform.params["tables"])
              for metric in ("ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits")]
    return {"widgets": [
        _widget(platform, "ALB requests", [_search("requests", *elb, "RequestCount", alb, "Sum")], "Sum"),
        _widget(platform, "ALB target response time (p99)",
                [_search("latency", *elb, "TargetResponseTime", alb, "p99")], "p99"),
        _widget(platform, "Application CPU",
                [["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg_name(platform)]]),
        _widget(platform, "Aurora CPU",
                [_aurora(platform, "CPUUtilization", role) for role in ("WRITER", "READER")]),
        _widget(platform, "Aurora writer connections", [_aurora(platform, "DatabaseConnections", "WRITER")]),
        _widget(platform, "Redis engine CPU and memory", [
            _search("cpu", *redis, "EngineCPUUtilization", cache, "Average"),
            _search("memory", *redis, "DatabaseMemoryUsagePercentage", cache, "Average")]),
        _widget(platform, "DynamoDB consumed capacity", tables, "Sum"),
    ]}

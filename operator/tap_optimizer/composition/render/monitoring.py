"""CloudWatch alarms on the Aurora writer (CPU and connections) and the platform dashboard.

The dashboard names resources by their fixed AWS names only, never by counts the optimizer
changes, so a right-sizing phase never touches it.
"""

from __future__ import annotations

import json
from typing import Any

from tap_optimizer.composition.render.cache import replication_group_id
from tap_optimizer.composition.render.common import Platform, Resources, managed
from tap_optimizer.composition.render.compute import asg_name
from tap_optimizer.composition.render.database import cluster_identifier
from tap_optimizer.composition.render.tables import table_name


def render_monitoring(platform: Platform) -> Resources:
    db = platform.params["database"]
    return {
        "alarm-database-cpu": _alarm(platform, "alarm-database-cpu", "CPUUtilization", db["cpuAlarmPercent"],
                                     "Aurora CPU above the alarm threshold"),
        "alarm-database-connections": _alarm(platform, "alarm-database-connections", "DatabaseConnections",
                                             db["connectionsAlarmThreshold"], "Aurora connections above the limit"),
        "dashboard": managed(platform, "dashboard", "cloudwatch/Dashboard",
                             {"dashboardBody": json.dumps(_dashboard(platform), sort_keys=True)},
                             component="monitoring", tagged=False, external_name=f"{platform.name}-overview"),
    }


def _alarm(platform: Platform, key: str, metric: str, threshold: float, description: str) -> dict[str, Any]:
    return managed(platform, key, "cloudwatch/MetricAlarm", {
        "alarmDescription": f"TAP {platform.name}: {description}",
        "namespace": "AWS/RDS",
        "metricName": metric,
        "dimensions": {"DBClusterIdentifier": cluster_identifier(platform)},
        "statistic": "Average",
        "period": 300,
        "evaluationPeriods": 2,
        "comparisonOperator": "GreaterThanThreshold",
        "threshold": threshold,
        "treatMissingData": "missing",
    }, component="monitoring")


def _widget(title: str, namespace: str, metrics: list[tuple[str, str, str]], region: str) -> dict[str, Any]:
    return {"type": "metric", "width": 12, "height": 6, "properties": {
        "title": title, "region": region, "stat": "Average", "period": 300,
        "metrics": [[namespace, metric, dimension, value] for metric, dimension, value in metrics]}}


def _dashboard(platform: Platform) -> dict[str, Any]:
    region, cluster, asg = platform.region, cluster_identifier(platform), asg_name(platform)
    cache = replication_group_id(platform)
    tables = [("ConsumedReadCapacityUnits", "TableName", table_name(platform, t))
              for t in sorted(platform.params["tables"])]
    return {"widgets": [
        _widget("Application CPU", "AWS/EC2", [("CPUUtilization", "AutoScalingGroupName", asg)], region),
        _widget("Aurora CPU and connections", "AWS/RDS", [("CPUUtilization", "DBClusterIdentifier", cluster),
                                                          ("DatabaseConnections", "DBClusterIdentifier", cluster)],
                region),
        _widget("Redis CPU and memory", "AWS/ElastiCache",
                [("EngineCPUUtilization", "ReplicationGroupId", cache),
                 ("DatabaseMemoryUsagePercentage", "ReplicationGroupId", cache)],
                region),
        _widget("DynamoDB reads", "AWS/DynamoDB", tables, region),
    ]}

"""Values the deploy tests render the chart with: the defaults, and every option turned on."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import helm

EVERYTHING_ON: dict[str, Any] = {
    "replicaCount": 2,
    "watchNamespaces": ["tap", "staging"],
    "logLevel": "debug",
    "prometheus": {"url": "http://prometheus.monitoring:9090"},
    "aws": {"region": "us-east-1", "existingSecret": "aws-credentials"},
    "serviceAccount": {"irsaRoleArn": "arn:aws:iam::123456789012:role/tap-optimizer",
                       "annotations": {"team": "platform"}},
    "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    "prometheusRule": {"enabled": True},
    "crossplane": {"install": True},
    "dashboard": {"enabled": True, "auth": "kubernetes", "analysisConfigMap": "tap-analysis"},
    "gates": {"endpoints": [{"name": "main", "namespaces": ["tap"], "prometheus": {
        "url": "https://prometheus.monitoring:9090", "timeout": "5s", "insecureSkipVerify": False,
        "bearerTokenSecretRef": {"name": "prometheus-token", "key": "token"}}},
        {"name": "aws", "namespaces": ["tap", "staging"], "cloudwatch": {"region": "us-east-1"}}],
        "defaultEndpoint": "main",
        "plans": {"allowURL": True, "allowedHosts": ["*.monitoring:9090", "[::1]:*"], "allowSecretRefs": False,
                  "maxTimeout": "20s"}},
    "leaderElection": {"leaseDurationSeconds": 10},
    "approval": {"policy": {"enabled": True}, "groups": ["platform-approvers"]},
    "image": {"repository": "registry.example.com/tap-optimizer", "tag": "0.1.0-rc1"},
    "imagePullSecrets": [{"name": "registry"}],
    "podAnnotations": {"example.com/owner": "platform"},
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64", "arm64"]}]}]}}},
}


@pytest.fixture(scope="session")
def default_objects() -> list[dict[str, Any]]:
    return helm.render()


@pytest.fixture(scope="session")
def full_objects() -> list[dict[str, Any]]:
    return helm.render(EVERYTHING_ON, namespace="ops")

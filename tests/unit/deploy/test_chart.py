"""The Helm chart, through the real helm binary: it lints, renders objects a real API server
would accept (built-ins, our CRDs, Prometheus Operator and Crossplane kinds), and each value
does what values.yaml says."""

from __future__ import annotations

import copy
import pathlib
import tarfile
from typing import Any

import pytest
import yaml

from tests.support import helm
from tests.unit.deploy.conftest import EVERYTHING_ON

OPERATOR_METRICS = ("tap_optimizer_rollbacks_total", "tap_optimizer_plan_inconclusive_checks",
                    "tap_optimizer_notifications_total", "tap_optimizer_gate_evaluations_total",
                    "tap_optimizer_errors_total")


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    [found] = of_kind(objects, kind)
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [operator] = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return operator


@pytest.mark.parametrize("values", [{}, EVERYTHING_ON], ids=["defaults", "every-option-on"])
def test_helm_lint_strict_passes(tmp_path, values):
    result = helm.helm("lint", "--strict", str(helm.CHART), "-f", helm.values_file(tmp_path, values))
    assert result.code == 0, result.stdout + result.stderr


@pytest.mark.parametrize("objects", ["default_objects", "full_objects"])
def test_every_rendered_object_is_one_the_api_server_accepts(objects, request):
    rendered = request.getfixturevalue(objects)
    refused = {f"{o['kind']}/{o['metadata']['name']}": helm.errors(o) for o in rendered}
    assert {name: why for name, why in refused.items() if why} == {}


def test_the_validation_catches_a_typo_in_a_builtin_and_in_a_custom_resource(full_objects):
    deployment = copy.deepcopy(only(full_objects, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    monitor = copy.deepcopy(only(full_objects, "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["prot"] = "http"
    assert "securityContxt" in " ".join(helm.errors(deployment))
    assert "prot" in " ".join(helm.errors(monitor))


@pytest.mark.parametrize(("values", "named"), [
    ({"replicaCount": -1}, "/replicaCount"),
    ({"replicas": 2}, "'replicas' not allowed"),
    ({"logLevel": "trace"}, "/logLevel"),
    ({"watchNamespaces": ["Not_A_Namespace"]}, "/watchNamespaces/0"),
    ({"serviceAccount": {"irsaRoleArn": "my-role"}}, "/serviceAccount/irsaRoleArn"),
    ({"serviceMonitor": {"enabeld": True}}, "'enabeld' not allowed"),
    ({"gates": {"plans": {"allowedHosts": ["user@host"]}}}, "/gates/plans/allowedHosts/0"),
    ({"gates": {"endpoints": [{"name": "x", "namespaces": [], "prometheus": {"url": "http://p"}}]}},
     "/gates/endpoints/0/namespaces"),
    ({"gates": {"plans": {"maxTimeout": "1 hour"}}}, "/gates/plans/maxTimeout"),
    ({"notifications": {"webhooks": [{"name": "ops"}]}}, "/notifications/webhooks/0"),
    ({"notifications": {"webhooks": [{"name": "ops", "url": "https://h/x", "format": "teams"}]}},
     "/notifications/webhooks/0/format"),
    ({"targets": {"instanceRefresh": "skip"}}, "/targets/instanceRefresh"),
], ids=["negative-replicas", "unknown-key", "unknown-log-level", "bad-namespace", "bad-role-arn", "typo-nested",
        "userinfo-in-allowed-host", "endpoint-for-no-namespace", "bad-max-timeout", "webhook-without-url",
        "webhook-format", "instance-refresh"])
def test_a_bad_value_is_refused_naming_the_field(tmp_path, values, named):
    result = helm.helm("lint", "--strict", str(helm.CHART), "-f", helm.values_file(tmp_path, values))
    assert result.code != 0
    assert named in result.stdout + result.stderr


def test_defaults_run_one_standalone_replica_over_all_namespaces(default_objects):
    deployment = only(default_objects, "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert container(default_objects)["args"] == [
        "run", "--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz", "--http=0.0.0.0:8000",
        "--config=/etc/tap-optimizer/config/config.yaml"]
    assert container(default_objects)["image"] == "ghcr.io/tap-optimizer/tap-optimizer:0.1.0"
    assert not of_kind(default_objects, "Role"), "no Secret to read, no Lease to hold"
    assert "env" not in container(default_objects)
    for kind in ("ServiceMonitor", "PrometheusRule", "CompositeResourceDefinition", "Composition", "Function"):
        assert not of_kind(default_objects, kind)


def test_every_option_on_reaches_the_operator(full_objects):
    operator = container(full_objects)
    assert operator["args"] == ["run", "--namespace=tap", "--namespace=staging",
                                "--liveness=http://0.0.0.0:8080/healthz", "--http=0.0.0.0:8000",
                                "--config=/etc/tap-optimizer/config/config.yaml",
                                "--leader-election=tap-optimizer", "--leader-election-namespace=ops",
                                "--lease-duration=10", "--dashboard=kubernetes", "--verbose",
                                "--analysis=/etc/tap-optimizer/analysis/analysis.json"]
    assert operator["image"] == "registry.example.com/tap-optimizer:0.1.0-rc1"
    env = {e["name"]: e.get("value") or e["valueFrom"]["secretKeyRef"] for e in operator["env"]}
    assert env == {"TAP_OPTIMIZER_PROMETHEUS_URL": "http://prometheus.monitoring:9090", "AWS_REGION": "us-east-1",
                   "AWS_ACCESS_KEY_ID": {"name": "aws-credentials", "key": "AWS_ACCESS_KEY_ID"},
                   "AWS_SECRET_ACCESS_KEY": {"name": "aws-credentials", "key": "AWS_SECRET_ACCESS_KEY"}}
    pod = only(full_objects, "Deployment")["spec"]["template"]
    assert {"name": "analysis", "mountPath": "/etc/tap-optimizer/analysis", "readOnly": True} in \
        operator["volumeMounts"]
    assert {"name": "analysis", "configMap": {"name": "tap-analysis", "optional": True}} in pod["spec"]["volumes"]
    assert pod["metadata"]["annotations"] == {**EVERYTHING_ON["podAnnotations"],
                                              "checksum/config": pod["metadata"]["annotations"]["checksum/config"]}
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity"):
        assert pod["spec"][key] == EVERYTHING_ON[key]
    assert only(full_objects, "ServiceAccount")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/tap-optimizer", "team": "platform"}


def test_several_replicas_elect_a_leader_through_a_lease(full_objects):
    assert only(full_objects, "Deployment")["spec"]["replicas"] == 2
    assert "strategy" not in only(full_objects, "Deployment")["spec"], "the Lease, not Recreate, keeps one acting"
    cluster_wide = helm.render({"replicaCount": 3}, namespace="ops")
    assert {"--leader-election=tap-optimizer", "--leader-election-namespace=ops", "--lease-duration=15"} <= set(
        container(cluster_wide)["args"])
    crds = {c["metadata"]["name"] for c in of_kind(cluster_wide, "CustomResourceDefinition")}
    assert crds == {"optimizationplans.optimization.tap.io"}, "no kopf peering CRDs any more"


def test_the_configuration_is_rendered_from_the_values_and_read_by_the_operator(full_objects, tmp_path):
    from tap_optimizer.configuration import load_gate_config  # noqa: PLC0415

    config_map = only(full_objects, "ConfigMap")
    assert config_map["metadata"]["name"] == "tap-optimizer-config"
    document = yaml.safe_load(config_map["data"]["config.yaml"])
    assert document["namespace"] == "ops"
    assert document["gates"] == EVERYTHING_ON["gates"]
    pod = only(full_objects, "Deployment")["spec"]["template"]["spec"]
    assert {"name": "config", "configMap": {"name": "tap-optimizer-config"}} in pod["volumes"]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    config = load_gate_config({"TAP_OPTIMIZER_CONFIG": str(path),
                               "TAP_OPTIMIZER_PROMETHEUS_URL": "http://prometheus.monitoring:9090"})
    assert (config.default, sorted(config.endpoints)) == ("main", ["aws", "default", "main"])
    assert config.endpoints["main"].token.namespace == "ops"
    assert (config.endpoints["aws"].provider, config.endpoints["aws"].region) == ("cloudwatch", "us-east-1")
    assert config.endpoints["main"].namespaces == ("tap",)
    assert config.plans.max_timeout == "20s"
    assert config.endpoints["aws"].namespaces == ("tap", "staging")


def test_the_webhooks_are_rendered_from_the_values_and_read_by_the_operator(tmp_path):
    from tap_optimizer.configuration import load_webhooks  # noqa: PLC0415
    from tap_optimizer.notifications.config import Webhook  # noqa: PLC0415

    hooks = [{"name": "ops", "urlSecretRef": {"name": "slack-webhook", "key": "url"}, "format": "slack",
              "events": ["RolledBack", "Failed"], "timeout": "3s"}, {"name": "plain", "url": "https://hooks.example/x"}]
    config_map = only(helm.render({"notifications": {"webhooks": hooks}}, namespace="ops"), "ConfigMap")
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    ops, plain = load_webhooks({"TAP_OPTIMIZER_CONFIG": str(path)})
    assert (ops.form, ops.events, ops.timeout, ops.url) == ("slack", frozenset({"RolledBack", "Failed"}), 3, "")
    assert (ops.secret.namespace, ops.secret.name, ops.secret.key) == ("ops", "slack-webhook", "url")
    assert plain == Webhook("plain", "https://hooks.example/x")


@pytest.mark.parametrize(("values", "wanted"), [({}, "Await"), ({"targets": {"instanceRefresh": "Skip"}}, "Skip")])
def test_instance_refresh_is_rendered_from_the_values_and_read_by_the_operator(tmp_path, values, wanted):
    from tap_optimizer.configuration import load_instance_refresh, load_target_kinds  # noqa: PLC0415

    path = tmp_path / "config.yaml"
    path.write_text(only(helm.render(values), "ConfigMap")["data"]["config.yaml"])
    assert load_instance_refresh({"TAP_OPTIMIZER_CONFIG": str(path)}) == wanted
    assert load_target_kinds({"TAP_OPTIMIZER_CONFIG": str(path)}) == {("platform.tap.io/v1alpha1", "TapPlatform")}


def test_the_pod_runs_non_root_on_a_read_only_root_filesystem(default_objects):
    pod = only(default_objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    operator = container(default_objects)
    assert operator["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                           "capabilities": {"drop": ["ALL"]}}
    assert {"name": "tmp", "mountPath": "/tmp"} in operator["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    assert operator["resources"]["requests"] and operator["resources"]["limits"]["memory"]


def test_probes_use_kopfs_health_endpoint_and_the_service_serves_metrics_and_dashboard(default_objects):
    operator = container(default_objects)
    assert {(p["name"], p["containerPort"]) for p in operator["ports"]} == {("http", 8000), ("health", 8080)}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert operator[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    service = only(default_objects, "Service")
    assert service["spec"]["ports"] == [{"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == only(default_objects, "Deployment")["spec"]["selector"]["matchLabels"]


def test_the_service_monitor_scrapes_the_metrics_port(full_objects):
    monitor = only(full_objects, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    service_labels = only(full_objects, "Service")["metadata"]["labels"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service_labels.items()


def test_alerts_cover_rollbacks_inconclusive_gates_and_errors_with_the_operator_metrics(full_objects):
    rules = {r["alert"]: r for r in only(full_objects, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert set(rules) == {"TapOptimizerPlanRolledBack", "TapOptimizerGatesInconclusive", "TapOptimizerErrors",
                          "TapOptimizerNotificationsFailing"}
    assert "increase(tap_optimizer_rollbacks_total" in rules["TapOptimizerPlanRolledBack"]["expr"]
    inconclusive = rules["TapOptimizerGatesInconclusive"]
    assert "tap_optimizer_plan_inconclusive_checks" in inconclusive["expr"]
    assert inconclusive["for"] == "30m"
    for alert in ("TapOptimizerPlanRolledBack", "TapOptimizerGatesInconclusive"):  # they name the plan
        assert rules[alert]["expr"].startswith("max by (plan_namespace, plan_name) (") or \
            rules[alert]["expr"].startswith("sum by (plan_namespace, plan_name) (")
        assert "{{ $labels.plan_namespace }}/{{ $labels.plan_name }}" in rules[alert]["annotations"]["summary"]
    assert "rate(tap_optimizer_errors_total" in rules["TapOptimizerErrors"]["expr"]
    assert "{{ $labels.system }}" in rules["TapOptimizerErrors"]["annotations"]["summary"]
    assert all(any(m in r["expr"] for m in OPERATOR_METRICS) for r in rules.values())


def test_crossplane_package_is_installed_verbatim_from_manifests_crossplane(full_objects):
    source = helm.ROOT / "manifests" / "crossplane"
    wanted = [d for name in ("xrd.yaml", "composition.yaml", "functions.yaml")
              for d in yaml.safe_load_all((source / name).read_text()) if d]
    kinds = {"CompositeResourceDefinition", "Composition", "Function"}
    assert [o for o in full_objects if o["kind"] in kinds] == wanted


def test_the_packaged_chart_carries_real_files_not_symlinks(tmp_path):
    result = helm.helm("package", str(helm.CHART), "--destination", str(tmp_path))
    assert result.code == 0, result.stderr
    [archive] = pathlib.Path(tmp_path).glob("tap-optimizer-*.tgz")
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        crd = members["tap-optimizer/crds/optimizationplans.optimization.tap.io.yaml"]
        assert crd.isfile()
        assert tar.extractfile(crd).read().decode() == (
            helm.ROOT / "operator" / "tap_optimizer" / "plan" / "optimizationplan.crd.yaml").read_text()
        assert not [name for name, m in members.items() if m.issym() or m.islnk()]

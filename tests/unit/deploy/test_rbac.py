"""The chart's RBAC, read statically: no wildcards, the namespaced permissions only where plans
are served, reads of exactly the managed resources the composition renders, and `patch` on exactly
the target kinds of targets.kinds (and on the plans).
tests/integration/test_rbac.py proves the same rules against what the running operator calls."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tap_optimizer.cli import load_platform, rendered_documents
from tap_optimizer.cluster import plural
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM
from tap_optimizer.targets import allowed
from tests.support import helm
from tests.support.crds import SCHEMAS

CLUSTER_SCOPED = {("apiextensions.k8s.io", "customresourcedefinitions"), ("", "namespaces"),
                  ("authentication.k8s.io", "tokenreviews"), ("authorization.k8s.io", "subjectaccessreviews")}
# The operator's own calls (handlers.py, cluster.py) and kopf's, besides the composed resources.
PLAN_AND_TARGET = {
    ("optimization.tap.io", "optimizationplans", "get"), ("optimization.tap.io", "optimizationplans", "list"),
    ("optimization.tap.io", "optimizationplans", "watch"), ("optimization.tap.io", "optimizationplans", "patch"),
    ("optimization.tap.io", "optimizationplans/status", "patch"),
    ("platform.tap.io", "tapplatforms", "get"), ("platform.tap.io", "tapplatforms", "patch"),
    ("", "events", "create"),
}
LEASE = {("coordination.k8s.io", "leases", v) for v in ("create", "get", "patch")}
ENDPOINT = {"name": "main", "prometheus": {"url": "https://prometheus.monitoring:9090",
                                           "bearerTokenSecretRef": {"name": "prometheus-token", "key": "token"},
                                           "caSecretRef": {"name": "prometheus-ca", "key": "ca.crt"}}}
DISCOVERY = {("apiextensions.k8s.io", "customresourcedefinitions", "list"),
             ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
             ("apiextensions.k8s.io", "customresourcedefinitions", "get")}  # the targets' own, by name


def composed() -> set[tuple[str, str, str]]:
    """(group, plural, get) for every managed resource `tap-optimizer render` gives for the example."""
    return {(d["apiVersion"].split("/")[0], plural(d["kind"]), "get")
            for d in rendered_documents(load_platform(REFERENCE_PLATFORM))}


def rules(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for o in objects if o["kind"] in ("Role", "ClusterRole") for rule in o["rules"]]


@pytest.mark.parametrize("values", [{}, {"replicaCount": 2}, {"watchNamespaces": ["a", "b"], "replicaCount": 2}],
                         ids=["defaults", "peering", "namespaces-and-peering"])
def test_no_rule_uses_a_wildcard(values):
    for rule in rules(helm.render(values)):
        assert "*" not in yaml.safe_dump(rule), rule


def test_all_namespaces_grants_exactly_the_operators_calls_cluster_wide(default_objects):
    assert helm.grants(default_objects) == {(None, *g) for g in PLAN_AND_TARGET | composed() | DISCOVERY}


def test_defaults_grant_no_secret_read_at_all():
    assert not [g for g in helm.grants(helm.render()) if g[2] == "secrets"]


def test_endpoint_secrets_are_read_by_name_in_the_operators_namespace_only():
    objects = helm.render({"gates": {"endpoints": [ENDPOINT]}}, namespace="ops")
    secrets = [g for g in helm.grants(objects) if g[2] == "secrets"]
    assert secrets == [("ops", "", "secrets", "get")]
    [own] = [o for o in objects if o["kind"] == "Role"]
    [rule] = [r for r in own["rules"] if r["resources"] == ["secrets"]]
    assert rule["resourceNames"] == ["prometheus-ca", "prometheus-token"]


def test_webhook_url_secrets_are_read_by_name_beside_the_endpoints():
    hooks = [{"name": "ops", "urlSecretRef": {"name": "slack-webhook", "key": "url"}, "format": "slack"},
             {"name": "plain", "url": "https://hooks.example/x"}]
    objects = helm.render({"gates": {"endpoints": [ENDPOINT]}, "notifications": {"webhooks": hooks}}, namespace="ops")
    [own] = [o for o in objects if o["kind"] == "Role"]
    [rule] = [r for r in own["rules"] if r["resources"] == ["secrets"]]
    assert rule["resourceNames"] == ["prometheus-ca", "prometheus-token", "slack-webhook"]


def test_plans_own_secrets_grant_secret_reads_only_where_plans_are_served():
    allowed = {"gates": {"plans": {"allowURL": True, "allowedHosts": ["*.monitoring"], "allowSecretRefs": True}}}
    everywhere = helm.grants(helm.render(allowed))
    assert (None, "", "secrets", "get") in everywhere, "all namespaces served: cluster-wide, and said so in values"
    served = helm.grants(helm.render({**allowed, "watchNamespaces": ["a", "b"]}))
    assert {g for g in served if g[2] == "secrets"} == {(ns, "", "secrets", "get") for ns in ("a", "b")}


def test_several_replicas_add_only_the_lease_in_the_operators_namespace():
    added = helm.grants(helm.render({"replicaCount": 2}, namespace="ops")) - helm.grants(helm.render(namespace="ops"))
    assert added == {("ops", *g) for g in LEASE}


def test_dashboard_authentication_adds_only_token_and_access_reviews():
    added = helm.grants(helm.render({"dashboard": {"enabled": True}})) - helm.grants(helm.render())
    assert added == {(None, "authentication.k8s.io", "tokenreviews", "create"),
                     (None, "authorization.k8s.io", "subjectaccessreviews", "create")}
    assert helm.grants(helm.render({"dashboard": {"enabled": True, "auth": "none"}})) == helm.grants(helm.render())


def test_served_namespaces_get_roles_and_the_cluster_role_keeps_only_cluster_scoped_reads(full_objects):
    granted = helm.grants(full_objects)
    namespaces = {("", "namespaces", "list"), ("", "namespaces", "watch")}
    reviews = {("authentication.k8s.io", "tokenreviews", "create"),
               ("authorization.k8s.io", "subjectaccessreviews", "create")}
    assert granted == {(None, *g) for g in DISCOVERY | namespaces | reviews} | {
        (ns, *g) for ns in ("tap", "staging") for g in PLAN_AND_TARGET | composed()} | {
        ("ops", *g) for g in LEASE | {("", "secrets", "get")}}
    assert {(g, r) for ns, g, r, _ in granted if ns is None} <= CLUSTER_SCOPED


def test_every_binding_names_the_operators_service_account(full_objects):
    account = next(o for o in full_objects if o["kind"] == "ServiceAccount")["metadata"]
    bindings = [o for o in full_objects if o["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert len(bindings) == 4  # cluster-wide, two served namespaces, the operator's own
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["name"],
                                        "namespace": account["namespace"]}]
        role = next(o for o in full_objects if o["kind"] == binding["roleRef"]["kind"]
                    and o["metadata"]["name"] == binding["roleRef"]["name"]
                    and o["metadata"].get("namespace") == binding["metadata"].get("namespace"))
        assert role["rules"]


def test_composed_resource_names_are_the_provider_crds_plurals():
    """`plural()` guesses the provider's resource names; a wrong guess would grant nothing useful."""
    served = set()
    for path in (SCHEMAS / "provider-aws").glob("*.aws.m.upbound.io_*.yaml"):
        spec = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)["spec"]
        served.add((spec["group"], spec["names"]["plural"], "get"))
    assert composed() <= served


# -- patch on exactly the target kinds of targets.kinds (issue #16) ---------------------------------------------

TAPPLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform"}
DB_INSTANCE = {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance"}
TABLE = {"apiVersion": "dynamodb.services.k8s.aws/v1alpha1", "kind": "Table"}
PLANS = {("optimization.tap.io", "optimizationplans"), ("optimization.tap.io", "optimizationplans/status")}


def patchable(objects: list[dict[str, Any]]) -> set[tuple[str | None, str, str]]:
    return {(ns, group, resource) for ns, group, resource, verb in helm.grants(objects)
            if verb in ("patch", "update", "create", "delete", "deletecollection")
            and (group, resource) not in {("", "events"), ("coordination.k8s.io", "leases")}}


def crd_reads(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rules(objects) if r["resources"] == ["customresourcedefinitions"] and "get" in r["verbs"]]


def test_by_default_the_only_target_the_operator_may_patch_is_the_tapplatform(default_objects):
    assert patchable(default_objects) == {(None, *r) for r in PLANS | {("platform.tap.io", "tapplatforms")}}
    [crds] = crd_reads(default_objects)
    assert crds == {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
                    "resourceNames": ["tapplatforms.platform.tap.io"], "verbs": ["get"]}


@pytest.mark.parametrize(("listed", "wanted"), [
    ([DB_INSTANCE, TABLE], {("rds.services.k8s.aws", "dbinstances"), ("dynamodb.services.k8s.aws", "tables")}),
    ([TAPPLATFORM, DB_INSTANCE, TABLE], {("platform.tap.io", "tapplatforms"), ("rds.services.k8s.aws", "dbinstances"),
                                         ("dynamodb.services.k8s.aws", "tables")}),
], ids=["ACK kinds without the TapPlatform", "ACK kinds beside the TapPlatform"])
def test_the_listed_kinds_and_nothing_else_become_patchable(listed, wanted):
    objects = helm.render({"targets": {"kinds": listed}})
    assert patchable(objects) == {(None, *r) for r in PLANS | wanted}
    granted = helm.grants(objects)
    assert {(group, resource) for _, group, resource, verb in granted if verb == "get"} >= wanted, "read, then patched"
    [crds] = crd_reads(objects)  # the one `get` on CRDs, by name
    assert crds["resourceNames"] == [allowed.crd_name(e["apiVersion"], e["kind"]) for e in listed]


def test_served_namespaces_get_the_target_kinds_in_their_roles_and_the_crds_stay_cluster_wide():
    objects = helm.render({"watchNamespaces": ["a", "b"], "replicaCount": 2, "targets": {"kinds": [DB_INSTANCE]}},
                          namespace="ops")
    assert patchable(objects) == {(ns, *r) for ns in ("a", "b") for r in PLANS | {("rds.services.k8s.aws",
                                                                                  "dbinstances")}}
    [crds] = crd_reads(objects)
    assert crds["resourceNames"] == ["dbinstances.rds.services.k8s.aws"]
    [cluster_role] = [o for o in objects if o["kind"] == "ClusterRole"]
    assert crds in cluster_role["rules"]


def test_every_supported_kind_is_granted_on_its_resource_and_its_crd():
    """The chart's names come from files/targets/supported-kinds.yaml (scripts/manifests.py writes it
    from targets/allowed.py; tests/unit/deploy/test_manifests.py keeps it current)."""
    objects = helm.render({"targets": {"kinds": [{"apiVersion": a, "kind": k} for a, k in allowed.supported()]}})
    assert patchable(objects) - {(None, *r) for r in PLANS} == {
        (None, api_version.split("/")[0], allowed.resource(kind)) for api_version, kind in allowed.supported()}
    [crds] = crd_reads(objects)
    assert crds["resourceNames"] == [allowed.crd_name(*pair) for pair in allowed.supported()]


@pytest.mark.parametrize(("kinds", "wanted"), [
    ([TAPPLATFORM, {"apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBSnapshot"}],
     "targets.kinds[1]: rds.services.k8s.aws/v1alpha1 DBSnapshot is not a kind the operator can change; supported: "
     "autoscaling.aws.m.upbound.io/v1beta1 AutoscalingGroup, autoscaling.services.k8s.aws/v1alpha1 AutoScalingGroup, "),
    ([{"apiVersion": "v1", "kind": "Secret"}], "at '/targets/kinds/0/apiVersion'"),
    ([{**TABLE, "resource": "tables"}], "at '/targets/kinds/0': additional properties 'resource' not allowed"),
    ([TABLE, TABLE], "at '/targets/kinds': items at 0 and 1 are equal"),
    ([], "at '/targets/kinds': minItems: got 0, want 1"),
], ids=["a kind no adapter changes", "a core kind", "an unknown key", "a kind listed twice", "no kind"])
def test_a_kind_the_operator_cannot_change_fails_the_install_naming_the_value(tmp_path, kinds, wanted):
    done = helm.helm("template", "tap-optimizer", str(helm.CHART), "-f",
                     helm.values_file(tmp_path, {"targets": {"kinds": kinds}}))
    assert done.code != 0
    assert wanted in done.stderr, done.stderr


def test_the_operator_allows_exactly_the_kinds_the_chart_grants(tmp_path):
    from tap_optimizer import configuration  # noqa: PLC0415

    objects = helm.render({"targets": {"kinds": [TABLE, DB_INSTANCE]}}, namespace="ops")
    [config_map] = [o for o in objects if o["kind"] == "ConfigMap"]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    found = configuration.load_target_kinds({configuration.CONFIG_ENV: str(path)})
    assert found == {("dynamodb.services.k8s.aws/v1alpha1", "Table"), ("rds.services.k8s.aws/v1alpha1", "DBInstance")}
    assert {(None, a.split("/")[0], allowed.resource(k)) for a, k in found} == patchable(objects) - {
        (None, *r) for r in PLANS}
    assert allowed.refusal(found, "platform.tap.io/v1alpha1", "TapPlatform"), "not granted, so Blocked"

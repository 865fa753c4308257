"""The chart's RBAC, read statically: no wildcards, the namespaced permissions only where plans
are served, and reads of exactly the managed resources the composition renders.
tests/integration/test_rbac.py proves the same rules against what the running operator calls."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tap_optimizer.cli import load_platform, rendered_documents
from tap_optimizer.cluster import plural
from tap_optimizer.platform.parameters import REFERENCE_PLATFORM
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
             ("apiextensions.k8s.io", "customresourcedefinitions", "watch")}


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

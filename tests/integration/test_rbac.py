"""The chart's RBAC is exactly what the operator calls. The real operator (`tap-optimizer run`, as
the chart runs it, with the configuration the chart renders) takes a plan from creation to
success and deletion against the local API server, which records every request the operator's
credentials make. Each (namespace, group, resource, verb) it asked for must be granted by the
rendered ClusterRole or a Role in that namespace, and every grant must have been used, except
reads of composed resources that this plan's phases did not touch and of the targets' CRDs, read by
name for the fields they make immutable (the static test in tests/unit/deploy/test_rbac.py pins
those to what the composition renders and to targets.kinds)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import kmock
import pytest
import yaml

from tap_optimizer_local import slo
from tap_optimizer_local.apiserver import ApiServer
from tap_optimizer_local.cluster import Cluster, local_cluster
from tap_optimizer_local.operator_process import Operator
from tap_optimizer_local.processes import wait_until
from tests.support import helm
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS, OPERATOR_NS = "tap", "tap-optimizer"
TOKEN = "operator-under-test"
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}
Permission = tuple[str | None, str, str, str]  # (namespace or None, API group, resource[/subresource], verb)


def verb(request: kmock.Request) -> str:
    """The RBAC verb of a request, as the API server's authorizer names it."""
    if request.method == "GET":
        if request.params.get("watch") in ("true", "1"):
            return "watch"
        return "get" if request.name else "list"
    return {"POST": "create", "PATCH": "patch", "PUT": "update", "DELETE": "delete"}[request.method]


class Recorder:
    """Every resource request made with the operator's token (discovery URLs are not resources)."""

    def __init__(self) -> None:
        self.requested: set[Permission] = set()

    def record(self, request: kmock.Request) -> None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}" or not getattr(request.resource, "plural", None):
            return
        resource = request.resource.plural + (f"/{request.subresource}" if request.subresource else "")
        self.requested.add((request.namespace or None, request.resource.group or "", resource, verb(request)))


@pytest.fixture
def recorder(monkeypatch) -> Recorder:
    recording = Recorder()
    handle = ApiServer._handle

    async def recorded(self: ApiServer, request: kmock.Request):
        recording.record(request)
        return await handle(self, request)

    monkeypatch.setattr(ApiServer, "_handle", recorded)
    return recording


def serve_cluster_kinds(cluster: Cluster) -> None:
    """What every real API server serves and kmock does not declare: CRDs and Secrets."""
    assert cluster.server is not None
    cluster.server.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False)
    cluster.server.resources["v1/secrets"] = kmock.ResourceInfo(kind="Secret", namespaced=True)


class ChartOperator(Operator):
    """The operator with the chart's arguments and its own credentials, so its requests stand out."""

    def __init__(self, cluster: Cluster, args: list[str], values: dict):
        kubeconfig = cluster.workdir / "operator-kubeconfig"
        config = yaml.safe_load(cluster.kubeconfig().read_text())
        config["users"][0]["user"]["token"] = TOKEN
        kubeconfig.write_text(yaml.safe_dump(config))
        super().__init__(str(kubeconfig), extra_args=args, config=rendered_config(values))


def rendered_config(values: dict) -> dict:
    """The operator's configuration as the chart renders it into its ConfigMap."""
    [config_map] = [o for o in helm.render(values, namespace=OPERATOR_NS) if o["kind"] == "ConfigMap"]
    return yaml.safe_load(config_map["data"]["config.yaml"])


def granted(values: dict) -> set[Permission]:
    """What the rendered chart grants the operator: cluster-wide (all namespaces served) and in its own namespace."""
    grants = helm.grants(helm.render(values, namespace=OPERATOR_NS))
    assert {ns for ns, *_ in grants} <= {None, OPERATOR_NS}
    return grants


def ungranted(requested: set[Permission], grants: set[Permission]) -> set[Permission]:
    return {p for p in requested if p not in grants and (None, *p[1:]) not in grants}


def composed(permissions: set[Permission]) -> set[Permission]:
    return {p for p in permissions if p[1].endswith(".aws.m.upbound.io")}


def optional(permissions: set[Permission]) -> set[Permission]:
    """Reads this plan need not make: composed resources, and the target kinds' CRDs (by name)."""
    return composed(permissions) | {p for p in permissions
                                    if p[1:] == ("apiextensions.k8s.io", "customresourcedefinitions", "get")}


def unscoped(permissions: set[Permission]) -> set[tuple[str, str, str]]:
    """Cluster-wide grants and the requests they cover, without namespace."""
    return {p[1:] for p in permissions}


@pytest.fixture
def stand(recorder) -> Iterator[Cluster]:
    with local_cluster(SCHEMAS) as (cluster, _crossplane):
        serve_cluster_kinds(cluster)
        cluster.create(copy.deepcopy(PLATFORM))
        cluster.core.create_namespaced_secret(OPERATOR_NS, {
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "prometheus-token", "namespace": OPERATOR_NS},
            "data": {"token": "c2VjcmV0"}})
        wait_until(lambda: (cluster.platform(NS, "tap-prod").get("status") or {}).get("conditions"), 30,
                   "the Crossplane stand-in reconciling the platform")
        yield cluster


def test_the_chart_grants_exactly_what_a_plans_life_calls(stand, recorder, prometheus):
    cluster, prometheus_url = stand, prometheus.url
    time.sleep(11)  # a baseline window of healthy history before the plan starts
    values = {"gates": {"endpoints": [{"name": "main", "prometheus": {
        "url": prometheus_url, "timeout": "2s", "bearerTokenSecretRef": {"name": "prometheus-token", "key": "token"}}}],
        "defaultEndpoint": "main"}, "targets": {"instanceRefresh": "Skip"}}  # Kubernetes calls only: no AWS
    gates = {k: v for k, v in slo.gates(prometheus_url, observationWindow="3s").items() if k != "prometheus"}
    with ChartOperator(cluster, ["--all-namespaces"], values):
        cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                        "metadata": {"name": "rbac", "namespace": NS}, "spec": three_phase_spec(gates=gates)})
        plan = cluster.wait_for(NS, "rbac", "Succeeded", "RolledBack", "Failed", timeout=90)
        assert plan["status"]["state"] == "Succeeded", plan["status"]
        cluster.custom.delete_namespaced_custom_object("optimization.tap.io", "v1alpha1", NS,
                                                       "optimizationplans", "rbac")
        wait_until(lambda: cluster.plan(NS, "rbac") is None, 30, "the plan's deletion")
    requested, grants = recorder.requested, granted(values)
    assert ungranted(requested, grants) == set(), "the operator called what the chart does not grant"
    used = {g for g in grants if g in requested or (g[0] is None and g[1:] in unscoped(requested))}
    assert grants - optional(grants) == used - optional(used), "the chart grants what nothing calls"
    assert (OPERATOR_NS, "", "secrets", "get") in requested, "the endpoint's token is read in the operator's namespace"
    assert composed(requested), "the plan's phases read their composed resources"


def test_leader_election_is_granted_exactly_the_lease_calls_in_the_operators_namespace(stand, recorder):
    cluster = stand
    with ChartOperator(cluster, ["--all-namespaces", "--leader-election", "tap-optimizer",
                                 "--leader-election-namespace", OPERATOR_NS], {}):
        renewal = (OPERATOR_NS, "coordination.k8s.io", "leases", "patch")
        wait_until(lambda: renewal in recorder.requested, 30, "a renewal of the Lease")
    lease_calls = {p for p in recorder.requested if p[1] == "coordination.k8s.io"}
    assert lease_calls == granted({"replicaCount": 2}) - granted({})

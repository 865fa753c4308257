"""The chart's RBAC is exactly what the operator calls. The real operator (`tap-optimizer run`, as
the chart runs it) takes a plan from creation to success and deletion against the local API
server, which records every request the operator's credentials make. Each (group, resource,
verb) it asked for must be granted by the rendered ClusterRole, and every grant must have been
used, except reads of composed resources that this plan's phases did not touch (the static test
in tests/unit/deploy/test_rbac.py pins those to what the composition renders)."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator

import kmock
import pytest
import yaml

from tap_optimizer.local import slo
from tap_optimizer.local.apiserver import ApiServer
from tap_optimizer.local.cluster import Cluster, local_cluster
from tap_optimizer.local.operator_process import Operator
from tap_optimizer.local.processes import wait_until
from tests.support import helm
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS = "tap"
TOKEN = "operator-under-test"
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}
Permission = tuple[str, str, str]  # (API group, resource[/subresource], verb)


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
        self.requested.add((request.resource.group or "", resource, verb(request)))


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
    """What every real API server serves and kmock does not declare: CRDs, Secrets, kopf's peerings."""
    assert cluster.server is not None
    cluster.server.resources["apiextensions.k8s.io/v1/customresourcedefinitions"] = kmock.ResourceInfo(
        kind="CustomResourceDefinition", namespaced=False)
    cluster.server.resources["v1/secrets"] = kmock.ResourceInfo(kind="Secret", namespaced=True)
    for crd in yaml.safe_load_all((helm.CHART / "crds" / "kopf-peerings.yaml").read_text()):
        cluster.server.add_crd(crd)


class ChartOperator(Operator):
    """The operator with the chart's arguments and its own credentials, so its requests stand out."""

    def __init__(self, cluster: Cluster, args: list[str]):
        kubeconfig = cluster.workdir / "operator-kubeconfig"
        config = yaml.safe_load(cluster.kubeconfig().read_text())
        config["users"][0]["user"]["token"] = TOKEN
        kubeconfig.write_text(yaml.safe_dump(config))
        super().__init__(str(kubeconfig), extra_args=args)


def granted(values: dict) -> set[Permission]:
    """What the rendered chart grants the operator, cluster-wide (the all-namespaces install)."""
    grants = helm.grants(helm.render(values))
    assert {ns for ns, *_ in grants} == {None}
    return {(group, resource, verb) for _, group, resource, verb in grants}


def composed(permissions: set[Permission]) -> set[Permission]:
    return {p for p in permissions if p[0].endswith(".aws.m.upbound.io")}


@pytest.fixture
def stand(recorder) -> Iterator[Cluster]:
    with local_cluster(SCHEMAS) as (cluster, _crossplane):
        serve_cluster_kinds(cluster)
        cluster.create(copy.deepcopy(PLATFORM))
        cluster.core.create_namespaced_secret(NS, {"apiVersion": "v1", "kind": "Secret",
                                                   "metadata": {"name": "prometheus-token", "namespace": NS},
                                                   "data": {"token": "c2VjcmV0"}})
        wait_until(lambda: (cluster.platform(NS, "tap-prod").get("status") or {}).get("conditions"), 30,
                   "the Crossplane stand-in reconciling the platform")
        yield cluster


def test_the_cluster_role_grants_exactly_what_a_plans_life_calls(stand, recorder, prometheus):
    cluster, prometheus_url = stand, prometheus.url
    time.sleep(11)  # a baseline window of healthy history before the plan starts
    gates = slo.gates(prometheus_url, observationWindow="3s",
                      prometheus={"url": prometheus_url, "timeout": "2s",
                                  "bearerTokenSecretRef": {"name": "prometheus-token", "key": "token"}})
    with ChartOperator(cluster, ["--all-namespaces"]):
        cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                        "metadata": {"name": "rbac", "namespace": NS}, "spec": three_phase_spec(gates=gates)})
        plan = cluster.wait_for(NS, "rbac", "Succeeded", "RolledBack", "Failed", timeout=90)
        assert plan["status"]["state"] == "Succeeded", plan["status"]
        cluster.custom.delete_namespaced_custom_object("optimization.tap.io", "v1alpha1", NS,
                                                       "optimizationplans", "rbac")
        wait_until(lambda: cluster.plan(NS, "rbac") is None, 30, "the plan's deletion")
    requested, grants = recorder.requested, granted({})
    assert requested - grants == set(), "the operator called what the chart does not grant"
    assert grants - composed(grants) == requested - composed(requested), "the chart grants what nothing calls"
    assert composed(requested), "the plan's phases read their composed resources"


def test_peering_replicas_are_granted_exactly_the_cluster_peering_calls(stand, recorder):
    cluster = stand
    cluster.custom.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", {
        "apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "tap-optimizer"}})
    with ChartOperator(cluster, ["--all-namespaces", "--peering", "tap-optimizer"]):
        peering = ("kopf.dev", "clusterkopfpeerings", "patch")
        wait_until(lambda: peering in recorder.requested, 30, "a keep-alive in the peering object")
    peering_calls = {p for p in recorder.requested if p[0] == "kopf.dev"}
    assert peering_calls == granted({"replicaCount": 2}) - granted({})

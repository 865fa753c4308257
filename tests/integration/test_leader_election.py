"""High availability with two real operator processes against the local API server: they elect
one leader through a coordination.k8s.io Lease, only the leader writes, the standby stays ready
and serves /metrics (without per-plan gauges; its /dashboard answers 503 naming the leader), and
when the leader is killed mid-observation the standby takes over and finishes the plan from its
status, patching each change once. Prints the measured takeover."""

from __future__ import annotations

import copy
import json
import time
import urllib.error
import urllib.request

import kubernetes
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.operator_process import NO_AWS_CONFIG, Operator
from tap_optimizer_local.processes import http_ok, wait_until
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS, OPERATOR_NS, LEASE = "tap", "tap-optimizer", "tap-optimizer"
LEASE_SECONDS = 3.0
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}
WRITES = ("optimizationplans", "tapplatforms")


class Replica(Operator):
    """One replica of the Deployment: its own credentials (so its requests stand out) and the Lease."""

    def __init__(self, cluster, token: str):
        kubeconfig = cluster.workdir / f"kubeconfig-{token}"
        config = yaml.safe_load(cluster.kubeconfig().read_text())
        config["users"][0]["user"]["token"] = token
        kubeconfig.write_text(yaml.safe_dump(config))
        super().__init__(str(kubeconfig), extra_args=[
            "--leader-election", LEASE, "--leader-election-namespace", OPERATOR_NS,
            "--lease-duration", str(LEASE_SECONDS)], config=NO_AWS_CONFIG)  # about leases: no AWS
        self.token = token

    def role(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as response:
                return json.load(response)["role"]
        except OSError:
            return None


class Writes:
    """Which replica wrote to plans and targets, and every change a phase or rollback patched."""

    def __init__(self, cluster):
        self.by_token: dict[str, int] = {}
        self.changes: list[tuple[str, str]] = []
        cluster.server.hooks.append(self._record)

    def _record(self, request, moment, _obj):
        plural = getattr(request.resource, "plural", None)
        if moment != "after" or request.method != "PATCH" or plural not in WRITES:
            return
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.by_token[token] = self.by_token.get(token, 0) + 1
        if plural == "tapplatforms" and isinstance(request.data, list):
            self.changes += [(op["op"], op["path"]) for op in request.data if op["path"].startswith("/spec/")
                             and op["op"] != "test"]


@pytest.fixture
def stand(prometheus):
    started = time.monotonic()
    with local_cluster(SCHEMAS) as (cluster, _crossplane):
        cluster.create_platform(copy.deepcopy(PLATFORM))
        writes = Writes(cluster)
        first, second = Replica(cluster, "replica-a"), Replica(cluster, "replica-b")
        with first, second:
            time.sleep(max(0.0, 11 - (time.monotonic() - started)))  # a baseline window of healthy history
            yield cluster, writes, (first, second), prometheus.url


def test_one_replica_acts_and_the_other_takes_over_when_it_dies_patching_each_change_once(stand):
    cluster, writes, replicas, prometheus_url = stand
    # two operator processes start (slow on a loaded machine), then elect
    wait_until(lambda: sorted(r.role() or "" for r in replicas) == ["leader", "standby"], 90, "one leader")
    leader = next(r for r in replicas if r.role() == "leader")
    standby = next(r for r in replicas if r is not leader)
    assert http_ok(f"{standby.http_url}/metrics"), "the standby serves /metrics"
    spec = three_phase_spec(gates=slo.gates(prometheus_url, observationWindow="6s"))
    cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                    "metadata": {"name": "ha", "namespace": NS}, "spec": spec})
    cluster.wait_for(NS, "ha", "Observing", timeout=60)
    assert standby.token not in writes.by_token, "the standby wrote while the leader lived"
    holder = lease(cluster).holder_identity
    assert served(leader) == (200, 1.0, 1.0), "the leader's page, its leader gauge, and the plan it observes"
    status, body = dashboard(standby)
    assert (status, scrape(standby)) == (503, {"tap_optimizer_leader": 0.0}), "no plan gauge, no empty page"
    assert f"the leader is {holder}" in body

    killed = time.monotonic()
    leader.kill()
    wait_until(lambda: standby.role() == "leader", 4 * LEASE_SECONDS + 10, "the standby taking over")
    takeover = time.monotonic() - killed
    wait_until(lambda: writes.by_token.get(standby.token, 0) > 0, 30, "the new leader acting")
    acting = time.monotonic() - killed
    plan = cluster.wait_for(NS, "ha", "Succeeded", "RolledBack", "Failed", timeout=90)
    print(f"\ntakeover: the standby held the Lease {takeover:.1f} s after the leader was killed "
          f"(lease {LEASE_SECONDS:g} s) and wrote its first status {acting:.1f} s after")

    assert plan["status"]["state"] == "Succeeded", plan["status"].get("message")
    planned = [(c["op"], c["path"]) for p in spec["phases"] for c in p["changes"]]
    assert sorted(writes.changes) == sorted(planned), "every change patched exactly once, across both leaders"
    assert takeover < LEASE_SECONDS * 2 + 3
    held = lease(cluster)
    assert held.holder_identity and held.lease_transitions == 1
    assert served(standby)[:2] == (200, 1.0), "the new leader serves the page and says it leads"


def lease(cluster) -> kubernetes.client.V1LeaseSpec:
    return kubernetes.client.CoordinationV1Api(cluster.api).read_namespaced_lease(LEASE, OPERATOR_NS).spec


def dashboard(replica: Replica) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"{replica.http_url}/dashboard", timeout=10) as response:
            return response.status, ""
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def scrape(replica: Replica) -> dict[str, float]:
    """The replica's leader gauge and plan gauges (summed over states), as /metrics exports them."""
    with urllib.request.urlopen(f"{replica.http_url}/metrics", timeout=10) as response:
        families = text_string_to_metric_families(response.read().decode())
        return {f.name: sum(s.value for s in f.samples) for f in families
                if f.name in ("tap_optimizer_leader", "tap_optimizer_plans")}


def served(replica: Replica) -> tuple[int, float | None, float | None]:
    """The status of the replica's /dashboard, its leader gauge and its count of plans."""
    found = scrape(replica)
    return dashboard(replica)[0], found.get("tap_optimizer_leader"), found.get("tap_optimizer_plans")

"""A plan author cannot take what is not theirs, and credentials never leave: the real operator,
configured as the chart configures it, against the local API server and the real Prometheus.

- The issue's exfiltration plan (its own URL with a query, another team's Secret) is refused
  naming the field: nothing reaches the URL, nothing is patched, the target is not even locked.
- A URL with a password in it and an unlabelled Secret are refused the same way.
- The allowed paths work: a plan naming the administrator's endpoint (its token read from the
  operator's namespace and sent to Prometheus), and a plan's own URL on an allowed host with a
  Secret its owner labelled for gates.
- Afterwards no token, password or URL user information appears in any plan's status, the
  Events, the operator's logs (at debug level), /metrics or /dashboard.
"""

from __future__ import annotations

import base64
import copy
import http.server
import json
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tap_optimizer.gates.endpoints import CREDENTIAL_LABEL
from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.operator_process import SKIP_REFRESH, Operator
from tests.integration.test_rbac import serve_cluster_kinds
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

NS, OPERATOR_NS = "tap", "tap-optimizer"
PLATFORM = {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform",
            "metadata": {"name": "tap-prod", "namespace": NS}, "spec": {"parameters": {"region": "us-east-1"}}}
ENDPOINT_TOKEN = "endpoint-token-Qx81vZ"
PLAN_TOKEN = "team-token-Lm42pW"
DB_PASSWORD = "orders-db-pass-Hj77"
URL_PASSWORD = "pw-Leak-9191"
SECRETS = (ENDPOINT_TOKEN, PLAN_TOKEN, DB_PASSWORD, URL_PASSWORD)
FINISHED = ("Succeeded", "RolledBack", "Failed")


class Recorder:
    """An HTTP server on 127.0.0.1 that records every request; with `upstream`, it forwards to it."""

    def __init__(self, upstream: str | None = None) -> None:
        self.requests: list[tuple[str, str]] = []  # (path, Authorization header)
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append((self.path, self.headers.get("Authorization", "")))
                body, status = b'{"status":"error","error":"collected"}', 400
                if upstream is not None:
                    with urllib.request.urlopen(upstream + self.path, timeout=5) as answer:
                        body, status = answer.read(), answer.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def secret(namespace: str, name: str, data: dict[str, str], labels: dict[str, str] | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace,
                                                               "labels": labels or {}},
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}}


@pytest.fixture(scope="module")
def stand(prometheus) -> Iterator[tuple]:
    started = time.monotonic()
    proxy, collector = Recorder(prometheus.url), Recorder()
    config = {"namespace": OPERATOR_NS, "gates": {
        "endpoints": [{"name": "main", "prometheus": {
            "url": proxy.url, "timeout": "2s", "bearerTokenSecretRef": {"name": "prometheus-token", "key": "token"}}},
            {"name": "other-team", "namespaces": ["other-team"], "prometheus": {"url": proxy.url}}],
        "defaultEndpoint": "main",
        "plans": {"allowURL": True, "allowedHosts": [proxy.url.removeprefix("http://")], "allowSecretRefs": True}},
        "targets": SKIP_REFRESH}  # about tenancy: no AWS for instance refreshes
    with local_cluster(SCHEMAS) as (cluster, _crossplane):
        serve_cluster_kinds(cluster)
        # as `kubectl create secret generic --from-file` writes it: with the file's trailing newline
        for obj in (secret(OPERATOR_NS, "prometheus-token", {"token": ENDPOINT_TOKEN + "\n"}),
                    secret(NS, "orders-db", {"password": DB_PASSWORD}),
                    secret(NS, "team-gates", {"token": PLAN_TOKEN}, {CREDENTIAL_LABEL: "true"}),
                    secret(NS, "team-unlabelled", {"token": PLAN_TOKEN})):
            cluster.core.create_namespaced_secret(obj["metadata"]["namespace"], obj)
        cluster.create_platform(copy.deepcopy(PLATFORM))
        with Operator(str(cluster.kubeconfig()), config=config, extra_args=["--verbose"]) as operator:
            time.sleep(max(0.0, 11 - (time.monotonic() - started)))  # a baseline window of healthy history
            yield cluster, operator, proxy, collector
    proxy.close()
    collector.close()


def create(cluster, name: str, prometheus: dict | None = None, endpoint: str | None = None) -> dict:
    gates = {k: v for k, v in slo.gates("", observationWindow="3s").items() if k != "prometheus"}
    if prometheus is not None:
        gates["prometheus"] = prometheus
    if endpoint is not None:
        gates["endpoint"] = endpoint
    spec = three_phase_spec(gates=gates, phases=[three_phase_spec()["phases"][1]])
    cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                    "metadata": {"name": name, "namespace": NS}, "spec": spec})
    return cluster.wait_for(NS, name, *FINISHED, timeout=60)


REFUSED = [
    ("exfiltration", lambda collector, proxy: {
        "url": f"{collector.url}/collect?x=", "bearerTokenSecretRef": {"name": "orders-db", "key": "password"}},
     "spec.gates.prometheus.url: must be the base URL of the HTTP API"),
    ("password-in-url", lambda collector, proxy: {
        "url": proxy.url.replace("//", f"//alice:{URL_PASSWORD}@")},
     "spec.gates.prometheus.url: must not carry a user or password"),
    ("unlabelled-secret", lambda collector, proxy: {
        "url": proxy.url, "bearerTokenSecretRef": {"name": "team-unlabelled", "key": "token"}},
     f"spec.gates.prometheus.bearerTokenSecretRef: Secret {NS}/team-unlabelled is not labelled"),
    ("hour-long-timeout", lambda collector, proxy: {"url": proxy.url, "timeout": "1h"},
     "spec.gates.prometheus.timeout: at most 30s with this endpoint, got 1h"),
]


@pytest.mark.parametrize(("case", "own", "named"), REFUSED, ids=[c[0] for c in REFUSED])
def test_a_plan_reaching_for_what_is_not_its_own_is_refused_and_nothing_is_sent(stand, case, own, named):
    cluster, _operator, proxy, collector = stand
    sent = len(proxy.requests)
    plan = create(cluster, f"refused-{case}", own(collector, proxy))
    assert plan["status"]["state"] == "Failed"
    assert plan["status"]["reason"] == "InvalidSpec"
    assert named in plan["status"]["message"]
    assert collector.requests == [] and len(proxy.requests) == sent, "nothing was sent"
    platform = cluster.platform(NS, "tap-prod")
    assert "optimization.tap.io/locked-by" not in (platform["metadata"].get("annotations") or {})
    assert not plan["status"].get("phases"), "nothing recorded, nothing patched"


def test_another_teams_endpoint_is_refused_naming_spec_gates_endpoint_and_nothing_is_sent(stand):
    cluster, _operator, proxy, _collector = stand
    sent = len(proxy.requests)
    plan = create(cluster, "other-teams-endpoint", endpoint="other-team")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("Failed", "InvalidSpec")
    assert (f"spec.gates.endpoint: endpoint 'other-team' is not offered to plans in namespace {NS}; offered there: "
            "main") in plan["status"]["message"]
    assert len(proxy.requests) == sent and not plan["status"].get("phases")


def test_the_administrators_endpoint_works_and_gets_its_token_from_the_operators_namespace(stand):
    cluster, _operator, proxy, _collector = stand
    plan = create(cluster, "by-endpoint", endpoint="main")
    assert plan["status"]["state"] == "Succeeded", plan["status"].get("message")
    assert proxy.requests and {auth for _, auth in proxy.requests} == {f"Bearer {ENDPOINT_TOKEN}"}


def test_a_plans_own_url_on_an_allowed_host_with_a_labelled_secret_works(stand):
    cluster, _operator, proxy, _collector = stand
    sent = len(proxy.requests)
    own = {"url": proxy.url, "bearerTokenSecretRef": {"name": "team-gates", "key": "token"}}
    plan = create(cluster, "own-url", own)
    assert plan["status"]["state"] == "Succeeded", plan["status"].get("message")
    assert {auth for _, auth in proxy.requests[sent:]} == {f"Bearer {PLAN_TOKEN}"}


def test_no_credential_appears_in_status_events_logs_metrics_or_dashboard(stand):
    """Runs last in the module: every plan above has run (or been refused) by now."""
    cluster, operator, _proxy, _collector = stand
    plans = cluster.custom.list_namespaced_custom_object("optimization.tap.io", "v1alpha1", NS,
                                                         "optimizationplans")["items"]
    assert len(plans) >= 5
    places = {
        "status": json.dumps([p.get("status") for p in plans]),
        "events": json.dumps(cluster.events(NS), default=str),
        "logs": "".join(open(path).read() for path in operator.logs),  # noqa: SIM115
        "metrics": urllib.request.urlopen(f"{operator.http_url}/metrics", timeout=10).read().decode(),
        "dashboard": urllib.request.urlopen(f"{operator.http_url}/dashboard", timeout=30).read().decode(),
    }
    assert "refused-password-in-url" in places["dashboard"] and "by-endpoint" in places["logs"]
    leaks = {(where, word) for where, text in places.items() for word in (*SECRETS, "alice:")
             if word in text}
    assert leaks == set()

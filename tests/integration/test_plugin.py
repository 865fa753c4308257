"""`kubectl optplan`, the executable kubectl runs, against plans the real operator drives in the
emulated API server: approve, pause, resume, abort, retry and proceed change what the operator
does, and `get --watch` draws the tree as the plan moves; the kube context's namespace, and a
write that races another reads again."""

from __future__ import annotations

import copy
import http.server
import importlib.metadata
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

import yaml

from tap_optimizer.cluster import MERGE_PATCH, PLAN
from tap_optimizer.plan.model import APPROVE_ANNOTATION
from tap_optimizer.plugin import actions, command
from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tests.integration.test_operator import NS, history, stand  # noqa: F401 (the operator's fixtures)
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec

PLUGIN = str(pathlib.Path(sys.executable).parent / "kubectl-optplan")


def optplan(site, *args: str, namespace: str | None = NS) -> subprocess.CompletedProcess:
    """The plugin as kubectl runs it: its own process, KUBECONFIG naming the current context."""
    env = {**os.environ, "KUBECONFIG": str(site.cluster.kubeconfig())}
    return subprocess.run([PLUGIN, *args, *(["-n", namespace] if namespace else [])], env=env, capture_output=True,
                          text=True, timeout=60, check=False)


def annotations(site, name: str) -> dict:
    return site.cluster.plan(NS, name)["metadata"].get("annotations") or {}


def create(site, name: str, spec: dict) -> None:
    create_in(site.cluster, name, spec)


def create_in(cluster, name: str, spec: dict) -> None:
    cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                    "metadata": {"name": name, "namespace": NS}, "spec": spec})


def wait_until(check, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return found


def test_approve_pause_resume_abort_and_retry_act_on_the_plan(stand):  # noqa: F811
    phases = copy.deepcopy(three_phase_spec()["phases"])[:2]
    phases[0]["requiresApproval"] = True
    create(stand, "gated", three_phase_spec(phases=phases,
                                            gates=slo.gates(stand.prometheus_url, observationWindow="10s")))
    stand.wait("gated", "AwaitingApproval")
    shown = optplan(stand, "get", "gated")
    assert shown.returncode == 0 and "॥ phase dynamodb" in shown.stdout and "AwaitingApproval" in shown.stdout

    assert optplan(stand, "pause", "gated").returncode == 0
    assert stand.wait("gated", "Paused")["status"]["reason"] == "Suspended"
    wrong = optplan(stand, "approve", "gated", "nope")
    assert wrong.returncode == 2 and "no phase 'nope'; its phases: dynamodb, compute" in wrong.stderr
    done = optplan(stand, "approve", "gated")  # the phase waiting
    assert done.returncode == 0 and "approved phase dynamodb" in done.stdout
    assert optplan(stand, "approve", "gated", "compute").returncode == 0
    assert annotations(stand, "gated")["optimization.tap.io/approve"] == "dynamodb,compute"
    time.sleep(1)
    assert stand.cluster.plan(NS, "gated")["status"]["state"] == "Paused" and stand.spec_patches == []
    assert optplan(stand, "resume", "gated").returncode == 0
    stand.wait("gated", "Observing")

    assert optplan(stand, "abort", "gated").returncode == 0
    aborted = stand.wait("gated", "RolledBack")
    assert aborted["status"]["reason"] == "Aborted"
    assert optplan(stand, "abort", "gated").returncode == 1  # nothing left to abort

    retried = optplan(stand, "retry", "gated")
    assert retried.returncode == 0 and "attempt 2" in retried.stdout
    again = wait_until(lambda: (p := stand.cluster.plan(NS, "gated"))["status"].get("attempt") == 2
                       and p["status"]["state"] == "AwaitingApproval" and p)
    assert again["status"]["attempts"][0]["reason"] == "Aborted"  # approvals were of attempt 1: asked again
    assert "optimization.tap.io/abort" not in annotations(stand, "gated")
    listed = optplan(stand, "list")
    assert listed.returncode == 0 and listed.stdout.splitlines()[1].split()[:4] == [
        "gated", "tap-prod", "AwaitingApproval", "AwaitingApproval"]
    refused = optplan(stand, "retry", "gated")
    assert refused.returncode == 1 and "only a plan that ended RolledBack or Failed" in refused.stderr
    assert optplan(stand, "list", namespace=None).stdout.splitlines()[1:] == []  # the context's namespace: default


def test_the_namespace_is_the_named_contexts_unless_n_names_one(tmp_path):
    with local_cluster(SCHEMAS) as (cluster, _):
        create_in(cluster, "mine", three_phase_spec())
        kubeconfig = yaml.safe_load(cluster.kubeconfig().read_text())
        context = {"cluster": "local", "user": "local", "namespace": NS}
        kubeconfig["contexts"].append({"name": "tap", "context": context})
        path = tmp_path / "kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))

        def listed(*args: str) -> list[str]:
            done = subprocess.run([PLUGIN, "list", "--kubeconfig", str(path), *args], capture_output=True, text=True,
                                  timeout=60, check=True)
            return [line.split()[0] for line in done.stdout.splitlines()[1:]]

        assert listed("--context", "tap") == ["mine"]
        assert listed() == [] and listed("-n", NS) == ["mine"]
        missing = subprocess.run([PLUGIN, "get", "nope", "--kubeconfig", str(path), "--context", "tap"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert (missing.returncode, missing.stderr) == (1, "kubectl optplan get: optimizationplan nope: not found\n")


def test_an_approval_racing_another_writer_reads_again_and_keeps_both():
    with local_cluster(SCHEMAS) as (cluster, _):
        create_in(cluster, "race", three_phase_spec())
        client, reads = command.Client(str(cluster.kubeconfig()), None), []

        def approve(plan: dict) -> actions.Change:
            reads.append(plan["metadata"]["resourceVersion"])
            if len(reads) == 1:  # someone else approves between this read and this write
                cluster.custom.patch_namespaced_custom_object(
                    *PLAN[:2], NS, PLAN[2], "race", {"metadata": {"annotations": {APPROVE_ANNOTATION: "compute"}}},
                    _content_type=MERGE_PATCH)
            return actions.approve(plan, "dynamodb")

        assert command.change(client, NS, "race", approve) == f"approved phase dynamodb ({APPROVE_ANNOTATION}=" \
                                                               "compute,dynamodb)"
        assert len(reads) == 2 and reads[0] != reads[1]
        assert cluster.plan(NS, "race")["metadata"]["annotations"][APPROVE_ANNOTATION] == "compute,dynamodb"


def test_proceed_accepts_an_inconclusive_hold_while_get_watch_draws_the_tree(stand):  # noqa: F811
    gates = slo.gates(stand.prometheus_url, observationWindow="3s", onInconclusive="Pause")
    gates["metrics"] = [{"name": "quiet", "query": "sum(tap_no_such_metric)", "max": 1}]  # answers, with no data
    spec = three_phase_spec(gates=gates, phases=three_phase_spec()["phases"][:1])
    create(stand, "held", spec)
    env = {**os.environ, "KUBECONFIG": str(stand.cluster.kubeconfig())}
    watcher = subprocess.Popen([PLUGIN, "get", "held", "--watch", "--interval", "0.3", "-n", NS], env=env,
                               stdout=subprocess.PIPE, text=True)
    drawn: list[str] = []
    threading.Thread(target=lambda: drawn.extend(watcher.stdout), daemon=True).start()
    try:
        wait_until(lambda: stand.cluster.plan(NS, "held").get("status", {}).get("reason") in (
            "InconclusiveCheck", "GatesInconclusive"))
        assert optplan(stand, "proceed", "held").returncode == 0
        plan = stand.wait("held", "Succeeded")
        wait_until(lambda: any("Status:       ✔ Succeeded" in line for line in drawn), 10)
    finally:
        watcher.terminate()
        watcher.wait(10)
    phase = plan["status"]["phases"][0]
    assert phase["acceptedBy"] == "local" and "inconclusive gate check" in phase["acceptedHold"]
    assert json.loads(annotations(stand, "held")["optimization.tap.io/proceed"])["phase"] == "dynamodb"
    output = "".join(drawn)
    assert "├──⟳ phase dynamodb" in output or "└──⟳ phase dynamodb" in output  # drawn while observed
    assert "hold accepted by local" in output and output.count("Name:         held") >= 2
    refused = optplan(stand, "proceed", "held")
    assert refused.returncode == 1 and "no inconclusive hold to accept: the plan is Succeeded" in refused.stderr


def test_version_an_unreachable_server_and_a_missing_context_exit_without_a_traceback(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))

    def plugin(*args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([PLUGIN, *args], env={**os.environ, "KUBECONFIG": str(path), **env},
                              capture_output=True, text=True, timeout=60, check=False)

    version = plugin("--version")
    installed = importlib.metadata.version("tap-optimizer")
    assert (version.returncode, version.stdout) == (0, f"kubectl-optplan {installed}\n")
    unreachable = plugin("approve", "p")
    assert unreachable.returncode == 1 and "Traceback" not in unreachable.stderr
    assert unreachable.stderr.startswith("kubectl optplan approve: cannot reach the API server: ")
    missing = plugin("list", "--context", "nope")
    assert (missing.returncode, missing.stderr) == (2, "kubectl optplan: no kube context: Invalid kube-config file. "
                                                       f"Expected object with name nope in {path}/contexts list\n")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n")
    for unreadable in (tmp_path, binary):  # a directory, a binary file: tracebacks before
        done = plugin("list", "--kubeconfig", str(unreadable))
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.startswith(f"kubectl optplan: no kube context: cannot read the kubeconfig {unreadable}: ")
    nothing = plugin("list", KUBECONFIG=str(tmp_path / "none"), HOME=str(tmp_path))
    assert (nothing.returncode, nothing.stderr) == (2, "kubectl optplan: no kube context: Invalid kube-config file. "
                                                       "No configuration found.\n")


def test_a_reader_that_leaves_ends_get_watch_and_list_quietly_with_141():
    """`kubectl optplan get NAME --watch | head -1`: the pipe is closed when the tree is written."""
    with local_cluster(SCHEMAS) as (cluster, _):
        create_in(cluster, "watched", three_phase_spec())
        for args in (["get", "watched", "--watch", "--interval", "0.1"], ["list"]):
            read, write = os.pipe()
            os.close(read)
            done = subprocess.run([PLUGIN, *args, "-n", NS], stdout=write, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig())}, timeout=60, check=False)
            os.close(write)
            assert (done.returncode, done.stderr) == (command.PIPE_CLOSED, ""), args


def test_list_on_a_cluster_without_the_crd_says_so(tmp_path):
    """It said 'optimizationplan : not found' (a name left blank) for a cluster that has no such resource."""
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"kind": "Status", "code": 404, "reason": "NotFound"}')

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "bare",
        "clusters": [{"name": "bare", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
        "contexts": [{"name": "bare", "context": {"cluster": "bare", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "t"}}]}))
    try:
        done = subprocess.run([PLUGIN, "list", "--kubeconfig", str(path)], capture_output=True, text=True, timeout=60,
                              check=False)
    finally:
        server.shutdown()
    assert (done.returncode, done.stderr) == (1, "kubectl optplan list: optimizationplans: not found: is the "
                                                 "OptimizationPlan CRD installed?\n")

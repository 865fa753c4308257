"""`tap-optimizer demo`: the whole system on this machine, no cloud, on embedded defaults.

The story, with real parts wherever this machine can run them: an emulated Kubernetes API with
our CRDs; the reference TapPlatform, reconciled by a Crossplane stand-in through our composition
function (starting the Auto Scaling group's instance refresh in moto, as Terraform does); moto
seeded with 60 days of an over-provisioned platform; the real Prometheus scraping a synthetic
service; the real operator as a process, asking moto for that refresh. The analysis writes the
plan; the demo applies it in two plans, so one ends Succeeded and one shows a rollback: a latency
regression is injected while the database phase is observed, its gate fails, and the operator
puts every parameter back. Last, the same operator changes an ACK DBInstance (an ACK stand-in
plays the controller) in one plan. Every process started here is stopped on the way out, Ctrl-C
included.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import pathlib
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from tap_optimizer.analysis import discovery, engine, summary
from tap_optimizer.analysis.aws import Aws
from tap_optimizer.analysis.pricing import pinned
from tap_optimizer.composition.render.platform import render_platform
from tap_optimizer.dashboard.html import render_page
from tap_optimizer.plan.model import APPROVE_ANNOTATION, TERMINAL
from tap_optimizer_local import progress, slo
from tap_optimizer_local.ack import Ack
from tap_optimizer_local.aws_platform import NOW, PlatformBuilder
from tap_optimizer_local.cluster import Cluster, local_cluster
from tap_optimizer_local.moto_aws import moto_server
from tap_optimizer_local.operator_process import LOCAL_CONFIG, Operator
from tap_optimizer_local.processes import wait_until
from tap_optimizer_local.prometheus import PrometheusServer
from tap_optimizer_local.synthetic_service import SyntheticService

NAMESPACE = "tap"
REGRESSED_PHASE = "database"
BASELINE_SECONDS = 10
PLAN_TIMEOUT = 120
ACK_INSTANCE: dict[str, Any] = {
    "apiVersion": "rds.services.k8s.aws/v1alpha1", "kind": "DBInstance",
    "metadata": {"name": "orders-db", "namespace": NAMESPACE},
    "spec": {"dbInstanceIdentifier": "orders-db", "engine": "postgres", "dbInstanceClass": "db.r6g.xlarge",
             "availabilityZone": "us-east-1a"}}
# The operator may change the TapPlatform and ACK DB instances (the chart's targets.kinds).
OPERATOR_CONFIG = {**LOCAL_CONFIG, "targets": {"kinds": [
    {"apiVersion": "platform.tap.io/v1alpha1", "kind": "TapPlatform"},
    {"apiVersion": ACK_INSTANCE["apiVersion"], "kind": "DBInstance"}]}}
Say = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    out_dir: pathlib.Path
    hold: bool = False          # keep the cluster up after the story, until Ctrl-C (the e2e test reads it)


class Story:
    """One demo run; `say` prints a line of the progress log."""

    def __init__(self, options: Options, say: Say):
        self.options, self.say = options, say
        self.started = time.monotonic()

    def step(self, text: str) -> None:
        self.say(f"\n[{time.monotonic() - self.started:5.1f}s] {text}")

    def run(self) -> int:
        self.options.out_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            self.step("Starting the emulated Kubernetes API (our CRDs and the XRD) and a Crossplane stand-in")
            cluster, crossplane = stack.enter_context(local_cluster())
            self.say(f"  API server {cluster.url}; kubeconfig {cluster.kubeconfig()}")
            self.step("Starting moto (AWS) and seeding tap-prod in 3 regions with 60 days of metrics")
            moto = stack.enter_context(moto_server())
            crossplane.aws = moto.autoscaling_backend  # it starts instance refreshes there, as Terraform does
            stack.enter_context(_environment(AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="demo",
                                             AWS_SECRET_ACCESS_KEY="demo", AWS_DEFAULT_REGION="us-east-1"))
            xr = PlatformBuilder(moto).build()
            self._platform(cluster, xr)
            self.step("Starting the synthetic service and the real Prometheus server scraping it")
            service = stack.enter_context(SyntheticService())
            prometheus = stack.enter_context(PrometheusServer([f"127.0.0.1:{service.port}"]))
            self.say(f"  Prometheus {prometheus.url} (pid {prometheus.process.pid})")
            result = self._analyze(moto, xr, prometheus.url)
            self.step("Starting the operator (tap-optimizer run)")
            analysis_file = str(self.options.out_dir / "analysis.json")
            operator = stack.enter_context(Operator(str(cluster.kubeconfig()), config=OPERATOR_CONFIG,
                                                    extra_args=["--analysis", analysis_file]))
            self.say(f"  operator pid {operator.process.pid}; live dashboard {operator.http_url}/dashboard, "
                     f"metrics {operator.http_url}/metrics")
            before = copy.deepcopy(cluster.platform(NAMESPACE, xr["metadata"]["name"])["spec"]["parameters"])
            plans = self._apply(cluster, service, result.plan)
            self._verify(cluster, xr["metadata"]["name"], before, plans)
            self._ack(cluster, stack.enter_context(Ack(cluster)), prometheus.url)
            self._dashboard(result.analysis, plans)
            if self.options.hold:
                self._hold()
        self.step("Stopped every process the demo started")
        return 0

    # --- the steps ------------------------------------------------------------------------------
    def _platform(self, cluster: Cluster, xr: dict[str, Any]) -> None:
        xr = copy.deepcopy(xr)
        xr["metadata"]["namespace"] = NAMESPACE
        cluster.create_platform(xr, timeout=60)
        name = xr["metadata"]["name"]
        self.say(f"  TapPlatform {NAMESPACE}/{name} is Ready: {len(render_platform(xr))} managed resources "
                 "rendered by the composition function, Synced and Ready")

    def _analyze(self, moto: Any, xr: dict[str, Any], prometheus_url: str) -> engine.Result:
        self.step("Analysing 60 days of CloudWatch and Cost Explorer data (tap-optimizer analyze)")
        gates = slo.gates(prometheus_url, baselineWindow=f"{BASELINE_SECONDS}s", observationWindow="6s")
        request = engine.Request(xr=xr, regions=discovery.regions_of(xr), now=NOW, gates=gates,
                                 prometheus_url=prometheus_url)
        result = engine.run(Aws(moto.session()), request, pinned(), progress=lambda line: self.say(f"  {line}"))
        (self.options.out_dir / "analysis.json").write_text(json.dumps(result.analysis, indent=1))
        (self.options.out_dir / "plan.yaml").write_text(yaml.safe_dump(result.plan, sort_keys=False))
        self.say("\n".join(f"  {line}" for line in summary.table(result.analysis).splitlines()))
        self.say(f"  wrote {self.options.out_dir / 'plan.yaml'} and {self.options.out_dir / 'analysis.json'}")
        return result

    def _apply(self, cluster: Cluster, service: SyntheticService, plan: dict[str, Any]) -> list[dict[str, Any]]:
        first, second = split(plan, REGRESSED_PHASE)
        self.say(f"  waiting {BASELINE_SECONDS} s of SLO history for the gates' baseline")
        time.sleep(BASELINE_SECONDS)
        self.step(f"Applying {first['metadata']['name']}: phases {_names(first)}, windows compressed to seconds")
        done = [self._follow(cluster, first, lambda _status: None)]
        self.step(f"Applying {second['metadata']['name']}: phase {REGRESSED_PHASE}; a latency regression will be "
                  "injected while it is observed")
        injected: list[bool] = []

        def regress(status: dict[str, Any]) -> None:
            if not injected and status.get("state") == "Observing":
                self.say("  >>> injecting a regression: typical latency 50 ms -> 90 ms")
                service.set(latency=0.09)
                injected.append(True)

        try:
            done.append(self._follow(cluster, second, regress))
        finally:
            service.set(latency=0.05)
        return done

    def _follow(self, cluster: Cluster, plan: dict[str, Any], hook: Callable[[dict[str, Any]], None]) -> dict:
        """Create the plan and print what happens until it ends; approve what waits for a person."""
        name = plan["metadata"]["name"]
        cluster.create(plan)
        status: dict[str, Any] = {}
        deadline = time.monotonic() + PLAN_TIMEOUT
        while time.monotonic() < deadline:
            current = cluster.plan(NAMESPACE, name)
            new = current.get("status") or {}
            for line in progress.changes(name, status, new):
                self.say(line)
            status = new
            hook(status)
            self._approve(cluster, name, status)
            if status.get("state") in TERMINAL:
                return current
            time.sleep(0.3)
        raise TimeoutError(f"plan {name} did not finish in {PLAN_TIMEOUT} s: {status.get('state')}")

    def _approve(self, cluster: Cluster, name: str, status: dict[str, Any]) -> None:
        phase = progress.waiting_for_approval(status)
        if phase is None:
            return
        self.say(f"  a person approves phase {phase} (it holds one-way doors): "
                 f"kubectl optplan approve {name} {phase} -n {NAMESPACE}")
        cluster.custom.patch_namespaced_custom_object(
            "optimization.tap.io", "v1alpha1", NAMESPACE, "optimizationplans", name,
            {"metadata": {"annotations": {APPROVE_ANNOTATION: phase}}},
            _content_type="application/merge-patch+json")

    def _verify(self, cluster: Cluster, platform: str, before: dict[str, Any], plans: list[dict[str, Any]]) -> None:
        self.step("Outcome")
        after = cluster.platform(NAMESPACE, platform)["spec"]["parameters"]
        for plan in plans:
            self.say(f"  {plan['metadata']['name']}: {plan['status']['state']}")
        same = after["database"] == before["database"]
        self.say(f"  database parameters after the rollback are {'identical to' if same else 'DIFFERENT from'} "
                 "before the plan")
        self.say(f"  compute: {before['compute']['desiredCapacity']} x {before['compute']['instanceType']} -> "
                 f"{after['compute']['desiredCapacity']} x {after['compute']['instanceType']}; cache: "
                 f"{before['cache']['nodeType']} -> {after['cache']['nodeType']}")

    def _ack(self, cluster: Cluster, ack: Ack, prometheus_url: str) -> None:
        """The same operator right-sizes an RDS DB instance declared with ACK: AWS (the ACK stand-in)
        reports it `modifying` for a few seconds, and the phase is observed only once it is
        `available` on the new class."""
        self.step("An ACK target: a DBInstance of AWS Controllers for Kubernetes (the ACK stand-in), "
                  "one plan changing its class")
        ack.slow[ACK_INSTANCE["metadata"]["name"]] = 3.0
        cluster.create(copy.deepcopy(ACK_INSTANCE))
        wait_until(lambda: (_read(cluster, ACK_INSTANCE).get("status") or {}).get("dbInstanceStatus") ==
                   "available", 30, "the DBInstance available")
        before = _read(cluster, ACK_INSTANCE)["spec"]["dbInstanceClass"]
        gates = slo.gates(prometheus_url, baselineWindow=f"{BASELINE_SECONDS}s", observationWindow="6s")
        plan = self._follow(cluster, ack_plan(gates), lambda _status: None)
        after = _read(cluster, ACK_INSTANCE)
        self.say(f"  {plan['metadata']['name']}: {plan['status']['state']}; DBInstance {NAMESPACE}/"
                 f"{after['metadata']['name']}: {before} -> {after['spec']['dbInstanceClass']}, AWS reports "
                 f"{after['status'].get('dbInstanceStatus')}")

    def _dashboard(self, analysis: dict[str, Any], plans: list[dict[str, Any]]) -> None:
        path = (self.options.out_dir / "dashboard.html").resolve()
        path.write_text(render_page(analysis, plans, title="tap-optimizer demo"))
        self.step(f"Dashboard: {path}")

    def _hold(self) -> None:
        self.say("holding: the cluster stays up until Ctrl-C")
        sys.stdout.flush()
        while True:
            time.sleep(1)


def split(plan: dict[str, Any], phase: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plan without `phase`, and a plan of `phase` alone (named `<plan>-<phase>`)."""
    first, second = copy.deepcopy(plan), copy.deepcopy(plan)
    first["spec"]["phases"] = [p for p in plan["spec"]["phases"] if p["name"] != phase]
    second["spec"]["phases"] = [p for p in plan["spec"]["phases"] if p["name"] == phase]
    second["metadata"]["name"] = f"{plan['metadata']['name']}-{phase}"
    if not first["spec"]["phases"] or not second["spec"]["phases"]:
        raise ValueError(f"the analysis gave no plan with both {phase} and other phases: {_names(plan)}")
    return first, second


def ack_plan(gates: dict[str, Any]) -> dict[str, Any]:
    """One phase: the ACK DB instance one class down."""
    return {"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
            "metadata": {"name": "rightsize-orders-db", "namespace": NAMESPACE},
            "spec": {"targetRef": {"apiVersion": ACK_INSTANCE["apiVersion"], "kind": "DBInstance",
                                   "name": ACK_INSTANCE["metadata"]["name"]},
                     "gates": gates,
                     "phases": [{"name": "writer", "changes": [
                         {"op": "replace", "path": "/spec/dbInstanceClass", "value": "db.r6g.large",
                          "reason": "CPU p95 18 % over 60 days on db.r6g.xlarge"}]}]}}


def _read(cluster: Cluster, obj: dict[str, Any]) -> dict[str, Any]:
    group, version = obj["apiVersion"].split("/")
    found = cluster.get((group, version, "dbinstances"), NAMESPACE, obj["metadata"]["name"])
    assert found is not None
    return found


def _names(plan: dict[str, Any]) -> str:
    return ", ".join(p["name"] for p in plan["spec"]["phases"])


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt


def run(options: Options, say: Say = print) -> int:
    """The demo; SIGTERM is handled like Ctrl-C so that every process is stopped either way."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return Story(options, say).run()
    except KeyboardInterrupt:
        say("interrupted: stopped every process the demo started")
        return 130

"""Notifications end to end: the real operator, configured with two webhooks (generic and Slack),
tells a real aiohttp receiver exactly once per transition across a whole plan that waits for
approval (while the operator is killed and started again), then has a phase refused and rolled
back."""

from __future__ import annotations

import asyncio
import copy
import threading
import time

import pytest
from aiohttp import web

from tap_optimizer_local import slo
from tap_optimizer_local.cluster import local_cluster
from tap_optimizer_local.operator_process import NO_AWS_CONFIG, Operator
from tap_optimizer_local.processes import free_port
from tests.integration.test_operator import NS, PLATFORM, Stand, history  # noqa: F401 (the baseline's history)
from tests.support.crds import SCHEMAS
from tests.support.plans import three_phase_spec


class Receiver:
    """A webhook receiver: a real aiohttp server on its own loop and thread, keeping what it gets."""

    def __init__(self) -> None:
        self.port, self.got = free_port(), {"generic": [], "slack": []}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    async def _take(self, request: web.Request) -> web.Response:
        self.got[request.match_info["form"]].append(await request.json())
        return web.Response(status=204)

    def _serve(self) -> None:
        app = web.Application()
        app.router.add_post("/{form}", self._take)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        self._loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> Receiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def told(history, monkeypatch):  # noqa: F811
    monkeypatch.setenv("TAP_OPTIMIZER_PROMETHEUS_URL", history.url)
    with Receiver() as receiver, local_cluster(SCHEMAS) as (cluster, crossplane):
        cluster.create_platform(copy.deepcopy(PLATFORM))
        hooks = [{"name": form, "url": f"http://127.0.0.1:{receiver.port}/{form}", "format": form, "timeout": "2s"}
                 for form in ("generic", "slack")]
        settings = {**NO_AWS_CONFIG, "notifications": {"webhooks": hooks}}  # about notifications: no AWS
        with Operator(str(cluster.kubeconfig()), config=settings) as operator:
            yield Stand(cluster, crossplane, operator, history.url), receiver


def test_each_transition_of_a_plan_with_a_rollback_is_told_exactly_once(told):
    stand, receiver = told
    phases = copy.deepcopy(three_phase_spec()["phases"])
    phases[0]["requiresApproval"] = True
    stand.crossplane.refuse = {"database-writer"}
    spec = three_phase_spec(gates=slo.gates(stand.prometheus_url, observationWindow="3s"),
                            phases=[phases[0], phases[2]])
    stand.cluster.create({"apiVersion": "optimization.tap.io/v1alpha1", "kind": "OptimizationPlan",
                          "metadata": {"name": "told", "namespace": NS}, "spec": spec})
    stand.wait("told", "AwaitingApproval")
    time.sleep(2)  # looked at again and again while it waits
    stand.operator.kill()
    stand.operator.start()  # resumes the plan from its status: nothing new to tell
    time.sleep(2)
    stand.annotate("told", "optimization.tap.io/approve", "dynamodb")
    plan = stand.wait("told", "RolledBack", "Failed", "Succeeded")
    assert (plan["status"]["state"], plan["status"]["reason"]) == ("RolledBack", "ApplyRefused")
    time.sleep(1)  # deliveries run in the background
    generic = receiver.got["generic"]
    assert [(n["event"], n["phase"]) for n in generic] == [
        ("AwaitingApproval", "dynamodb"), ("RollingBack", "database"), ("RolledBack", "database")]
    assert {(n["namespace"], n["name"], n["attempt"]) for n in generic} == {(NS, "told", 1)}
    assert generic[1]["reason"] == "ApplyRefused" and "refuse to update" in generic[1]["message"]
    assert [n["text"].split(":")[0] for n in receiver.got["slack"]] == [
        f"OptimizationPlan {NS}/told waits for approval", f"OptimizationPlan {NS}/told is rolling back",
        f"OptimizationPlan {NS}/told was rolled back"]

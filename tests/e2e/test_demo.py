"""`tap-optimizer demo` as a user runs it, checked from the outside: the plans' final states and
the TapPlatform in the demo's API server, the dashboard file, and no process left behind after
Ctrl-C."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import time
from typing import IO

import kubernetes
import pytest
import yaml

from tap_optimizer_local.aws_platform import platform_xr

TIMEOUT = 240


def read_until(stream: IO[str], marker: str, seen: list[str]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            raise AssertionError("the demo ended early:\n" + "".join(seen[-60:]))
        seen.append(line)
        if marker in line:
            return
    raise AssertionError(f"no {marker!r} within {TIMEOUT} s:\n" + "".join(seen[-60:]))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = pathlib.Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.fixture
def demo(tmp_path: pathlib.Path):
    process = subprocess.Popen([sys.executable, "-m", "tap_optimizer.cli", "demo", "--hold",
                                "--out-dir", str(tmp_path / "out")], cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def test_the_demo_tells_the_whole_story_and_cleans_up(demo: subprocess.Popen, tmp_path: pathlib.Path):
    started = time.monotonic()
    seen: list[str] = []
    read_until(demo.stdout, "holding:", seen)
    took = time.monotonic() - started
    log = "".join(seen)
    kubeconfig = re.search(r"kubeconfig (\S+)", log).group(1)
    pids = [int(p) for p in re.findall(r"pid (\d+)", log)]
    assert len(pids) == 2 and all(alive(p) for p in pids), log

    api = kubernetes.config.new_client_from_config(config_file=kubeconfig)
    custom = kubernetes.client.CustomObjectsApi(api)
    plans = {p["metadata"]["name"]: p for p in custom.list_namespaced_custom_object(
        "optimization.tap.io", "v1alpha1", "tap", "optimizationplans")["items"]}
    assert {name: p["status"]["state"] for name, p in plans.items()} == {
        "rightsize-tap-prod-20261125": "Succeeded", "rightsize-tap-prod-20261125-database": "RolledBack",
        "rightsize-orders-db": "Succeeded"}
    instance = custom.get_namespaced_custom_object("rds.services.k8s.aws", "v1alpha1", "tap", "dbinstances",
                                                   "orders-db")
    assert (instance["spec"]["dbInstanceClass"], instance["status"]["dbInstanceStatus"]) == ("db.r6g.large",
                                                                                           "available")
    assert "DBInstance tap/orders-db: db.r6g.xlarge -> db.r6g.large, AWS reports available" in log
    failed = plans["rightsize-tap-prod-20261125-database"]["status"]["phases"][0]["gates"][-1]
    assert failed["verdict"] == "Fail"
    assert {m["name"] for m in failed["metrics"] if m["verdict"] == "Fail"} == {"p99-latency"}

    parameters = custom.get_namespaced_custom_object("platform.tap.io", "v1alpha1", "tap", "tapplatforms",
                                                     "tap-prod")["spec"]["parameters"]
    before = platform_xr()["spec"]["parameters"]
    assert parameters["database"] == before["database"], "the rolled-back phase left the database as it was"
    assert parameters["compute"]["instanceType"] == "m5.2xlarge" != before["compute"]["instanceType"]
    assert parameters["cache"]["nodeType"] == "cache.r6g.xlarge"
    assert "ByRole" not in parameters["tables"]["users"]["globalSecondaryIndexes"]
    assert parameters["tables"]["tenant_acme"] == before["tables"]["tenant_acme"], "the tenant's table is untouched"

    out = tmp_path / "out"
    dashboard = out / "dashboard.html"
    assert dashboard.stat().st_size > 1_000_000 and "rightsize-tap-prod-20261125-database" in dashboard.read_text()
    assert yaml.safe_load((out / "plan.yaml").read_text())["kind"] == "OptimizationPlan"
    assert f"Dashboard: {dashboard}" in log

    demo.send_signal(signal.SIGINT)
    assert demo.wait(60) == 130
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if alive(p)], "every process the demo started is stopped"
    print(f"\ndemo: {took:.0f} s to the end of the story")

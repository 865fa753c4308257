"""The real operator (`tap-optimizer run`) as a subprocess against the local cluster, so tests
can kill it at any moment and start it again. It serves /metrics and /dashboard on a free port
of its own (`http_url`), so operators started side by side never fight over one.

Its configuration (TAP_OPTIMIZER_CONFIG) is LOCAL_CONFIG unless a test gives another: plans may
name their own Prometheus on this machine's loopback addresses, where the local one runs. An
instance-type phase waits for the group's instance refresh, asked of AWS: a stand runs moto
(`local_cluster(aws=...)` and boto3 pointed at it), or gives `NO_AWS_CONFIG`, which skips it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import yaml

from tap_optimizer_local.processes import free_port, http_ok, wait_until

LOCAL_CONFIG: dict[str, Any] = {
    "namespace": "tap-optimizer",
    "gates": {"plans": {"allowURL": True, "allowedHosts": ["127.0.0.1:*", "localhost:*"]}},
}
# For a stand about something else, without AWS: instance-type phases are observed once the group
# names the new template version, without asking AWS for its instance refresh.
SKIP_REFRESH: dict[str, Any] = {"instanceRefresh": "Skip"}
NO_AWS_CONFIG: dict[str, Any] = {**LOCAL_CONFIG, "targets": SKIP_REFRESH}


class Operator:
    def __init__(self, kubeconfig: str, tick_seconds: float = 0.3, *, http_port: int | None = None,
                 extra_args: Sequence[str] = (), config: dict[str, Any] | None = None, dashboard: str = "open"):
        self.kubeconfig, self.tick = kubeconfig, tick_seconds
        self.extra_args = ("--dashboard", dashboard, *extra_args)
        self.config_file = f"{kubeconfig}.operator-config-{free_port()}.yaml"
        with open(self.config_file, "w") as out:
            yaml.safe_dump(LOCAL_CONFIG if config is None else config, out)
        self.process: subprocess.Popen | None = None
        self.port = free_port()
        self.http_port = http_port or free_port()
        self.logs: list[str] = []
        self.starts = 0

    def start(self) -> None:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "TAP_OPTIMIZER_TICK_SECONDS": str(self.tick),
               "TAP_OPTIMIZER_CONFIG": self.config_file}
        log = open(f"{self.kubeconfig}.operator-{self.starts}.log", "w")  # noqa: SIM115 (the process owns it)
        self.logs.append(log.name)
        self.starts += 1
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tap_optimizer.cli", "run", "--all-namespaces",
             "--liveness", f"http://127.0.0.1:{self.port}/healthz", "--http", f"127.0.0.1:{self.http_port}",
             *self.extra_args], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_until(lambda: self._live() and http_ok(f"{self.http_url}/metrics"), 30, "operator liveness and /metrics")

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def _live(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            with open(self.logs[-1]) as log:
                raise RuntimeError(f"operator exited with {self.process.returncode}: {log.read()[-3000:]}")
        return http_ok(f"http://127.0.0.1:{self.port}/healthz")

    def kill(self) -> None:
        """A crash: SIGKILL, no cleanup."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> Operator:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

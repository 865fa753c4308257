"""The real Prometheus server (Debian package `prometheus`), started by the tests on 127.0.0.1
with a 1 s scrape interval, and stopped, even on failure. It can be stopped and started again
on the same port and data directory, as an outage."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import tempfile
import urllib.request

import yaml

from tests.support.processes import free_port, wait_until

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"


class PrometheusServer:
    def __init__(self, targets: list[str], scrape_interval: str = "1s"):
        if not pathlib.Path(BINARY).exists():
            raise RuntimeError("the prometheus binary is missing: run `make system-deps`")
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="tap-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                  "scrape_configs": [{"job_name": "synthetic", "static_configs": [{"targets": targets}]}]}
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [BINARY, f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "log", "ab"))  # noqa: SIM115 (the process owns it)
        wait_until(self._ready, 30, "prometheus")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

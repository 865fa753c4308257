"""The real Prometheus server (Debian package `prometheus`), started by the tests on 127.0.0.1
with a 1 s scrape interval, and stopped (terminate, then kill), even on failure. It can be stopped
and started again on the same port and data directory, as an outage.

History: given OpenMetrics text (`openmetrics` writes it), the server starts on blocks backfilled
by `promtool tsdb create-blocks-from openmetrics` (same Debian package), kept for `retention`."""

from __future__ import annotations

import asyncio
import math
import pathlib
import shutil
import subprocess
import tempfile
import urllib.request
from typing import IO, Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tap_optimizer.gates.prometheus import PrometheusGates
from tap_optimizer.plan.model import GateVerdict
from tap_optimizer.plan.spec import Gates
from tap_optimizer_local.processes import free_port, http_ok, wait_until

BINARY = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
# promtool cuts backfilled history into 2 h blocks unless told otherwise (a hidden flag): 60 days
# would be 720 blocks, half a minute to write and slow to open. One block per ~60 days instead.
BACKFILL_BLOCK = "1500h"
INSTALL = "apt-get update && apt-get install -y --no-install-recommends prometheus (or `make system-deps`)"


class PrometheusServer:
    """`remote_read`: URLs of remote stores queried with every query (`read_recent`); one that is
    down makes Prometheus answer with `warnings`, as a Thanos or federated store that is down does."""

    def __init__(self, targets: list[str], scrape_interval: str = "1s", remote_read: tuple[str, ...] = (),
                 history: str | None = None, retention: str | None = None):
        if not pathlib.Path(BINARY).exists():
            raise RuntimeError(f"the prometheus binary is missing; these tests need the real server: {INSTALL}")
        self.workdir = pathlib.Path(tempfile.mkdtemp(prefix="tap-prometheus-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
                  "scrape_configs": [{"job_name": "synthetic", "static_configs": [{"targets": targets}]}]}
        if remote_read:
            config["remote_read"] = [{"url": url, "read_recent": True} for url in remote_read]
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.process: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self.history, self.retention = history, retention

    def _backfill(self) -> None:
        """Write the history into TSDB blocks in the data directory, once, before the first start."""
        data = self.workdir / "data"
        if self.history is None or data.exists():
            return
        source = self.workdir / "history.om"
        source.write_text(self.history if self.history.rstrip().endswith("# EOF") else self.history + "# EOF\n")
        done = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                               f"--max-block-duration={BACKFILL_BLOCK}", str(source), str(data)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"promtool could not backfill the history: {done.stderr[-2000:]}")

    def start(self) -> None:
        """Start (again, after `stop`, on the same port and data) and wait until it is ready."""
        self._backfill()
        self._log = open(self.workdir / "log", "ab")  # noqa: SIM115 (open while the process runs)
        retention = [f"--storage.tsdb.retention.time={self.retention}"] if self.retention else []
        self.process = subprocess.Popen(
            [BINARY, f"--config.file={self.workdir / 'prometheus.yml'}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn", *retention],
            stdout=subprocess.DEVNULL, stderr=self._log)
        wait_until(self._ready, 30, "prometheus")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}: {self.log()[-2000:]}")
        return http_ok(f"{self.url}/-/ready")

    def log(self) -> str:
        return (self.workdir / "log").read_text(errors="replace")

    def query_requests(self, handler: str = "/api/v1/query") -> int:
        """How many queries (instant, or `/api/v1/query_range`) this server has answered since it
        started (its own counter)."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        return int(sum(sample.value for family in text_string_to_metric_families(text)
                       if family.name == "prometheus_http_requests" for sample in family.samples
                       if sample.name.endswith("_total") and sample.labels.get("handler") == handler))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> PrometheusServer:
        try:
            self.start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def openmetrics(families: dict[str, list[tuple[dict[str, str], list[tuple[float, float]]]]]) -> str:
    """OpenMetrics text of gauges for `promtool tsdb create-blocks-from openmetrics`: per metric
    name, its series as (labels, [(UNIX seconds, value), ...]); `# EOF` last."""
    lines = []
    for name, series in families.items():
        lines.append(f"# TYPE {name} gauge")
        for labels, points in series:
            selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            head = f"{name}{{{selector}}}" if selector else name
            lines.extend(f"{head} {_number(value)} {_number(moment)}" for moment, value in points)
    return "\n".join([*lines, "# EOF", ""])


def _number(value: float) -> str:
    """A sample value or timestamp as OpenMetrics writes it: `NaN`, `+Inf`, never `1.7e+09`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


async def check_until(gates: PrometheusGates, spec: Gates, baseline: dict[str, Any], wanted: str,
                      timeout: float = 30) -> GateVerdict:
    """Check every 0.5 s until the verdict is `wanted` (scrapes and rate windows take seconds); return it."""
    deadline = asyncio.get_running_loop().time() + timeout
    verdict = await gates.check(spec, baseline)
    while verdict.verdict != wanted:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never {wanted} in {timeout} s: {verdict}")
        await asyncio.sleep(0.5)
        verdict = await gates.check(spec, baseline)
    return verdict

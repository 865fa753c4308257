"""Start and stop local server processes for tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout} s")
        time.sleep(0.05)


def http_ok(url: str) -> bool:
    """Whether a GET of url answers 200 now (a readiness probe)."""
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def tap_optimizer(*args: str, port: int, timeout: float = 30) -> Iterator[subprocess.Popen]:
    """Run `tap-optimizer ARGS` until the block ends; ready when it listens on port."""
    process = subprocess.Popen([sys.executable, "-m", "tap_optimizer.cli", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: process.poll() is not None or port_open(port), timeout, f"tap-optimizer {args[0]}")
        assert process.poll() is None, process.stdout.read()
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

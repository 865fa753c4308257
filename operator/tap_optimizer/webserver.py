"""The operator's HTTP endpoints: `/metrics` for Prometheus and a read-only `/dashboard`.

Served from the operator's own event loop (aiohttp), so both read the plans the handlers last
saw without locks or copies between threads. The dashboard renders in a worker thread: a page
with Plotly inlined takes long enough to stall the handlers otherwise. Routes answer GET and HEAD
only; aiohttp answers 405 for any other method on them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import pathlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import exposition

from tap_optimizer.analysis import document
from tap_optimizer.metrics import OperatorMetrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Address:
    host: str
    port: int


def parse_address(text: str) -> Address | None:
    """HOST:PORT (IPv6 in brackets), or None for '' and 'off'; ValueError when it is neither."""
    if text.strip().lower() in ("", "off"):
        return None
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected HOST:PORT, '' or off, got {text!r}")
    return Address(host.removeprefix("[").removesuffix("]"), int(port))


def read_analysis(path: pathlib.Path | None) -> dict[str, Any] | None:
    """The analysis document, or None (the page then says there is none) when it is absent or unusable.

    Read on every request, so a new `analyze` run shows without restarting the operator."""
    if path is None:
        return None
    try:
        analysis = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        logger.warning("dashboard without analysis: cannot read %s: %s", path, error)
        return None
    wrong = document.problem(analysis)
    if wrong:
        logger.warning("dashboard without analysis: %s is not an analysis document: %s", path, wrong)
        return None
    return analysis


def _page(analysis: dict[str, Any] | None, plans: list[dict[str, Any]]) -> str:
    from tap_optimizer.dashboard.html import render_page  # noqa: PLC0415 (Plotly loads on the first view, not at start)

    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return render_page(analysis, plans, title="tap-optimizer", generated_at=now)


def application(metrics: OperatorMetrics, analysis_path: pathlib.Path | None) -> web.Application:
    async def scrape(request: web.Request) -> web.Response:
        encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(metrics.registry), headers={"Content-Type": content_type})

    async def dashboard(_: web.Request) -> web.Response:
        plans = [metrics.plans[key] for key in sorted(metrics.plans)]
        page = await asyncio.to_thread(_page, read_analysis(analysis_path), plans)
        return web.Response(text=page, content_type="text/html")

    async def root(_: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    app.router.add_get("/dashboard", dashboard)
    app.router.add_get("/", root)
    return app


class WebServer:
    """The endpoints on one address, started and stopped with the operator."""

    def __init__(self, address: Address, metrics: OperatorMetrics, analysis_path: pathlib.Path | None) -> None:
        self.address = address
        self._runner = web.AppRunner(application(metrics, analysis_path), access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address.host, self.address.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()

"""The operator's HTTP endpoints: `/metrics` for Prometheus and a read-only `/dashboard`.

They cannot hurt the control loop: `WebThread` serves them from a thread and event loop of their
own, with a worker pool of their own (the operator's Kubernetes calls use the operator loop's
default pool), and reads the plans through `OperatorMetrics.snapshot()`. A page is rendered at
most once per RENDER_TTL for the same audience, one render at a time, and past MAX_WAITING
queued views the answer is 503, so a crowd of viewers costs one render, not one each.

`/dashboard` is off unless asked for (`--dashboard open|kubernetes`); with `kubernetes` a viewer
needs a bearer token the API server accepts and sees only the namespaces it may list plans in
(webauth.py). Routes answer GET and HEAD only; aiohttp answers 405 for any other method on them.

A standby (leader election) knows no plans: its /dashboard answers 503 naming the leader (the
Lease's holder), and its /metrics leaves out the per-plan gauges (metrics.OperatorMetrics.exposed).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import json
import logging
import pathlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import exposition

from tap_optimizer.analysis import document
from tap_optimizer.metrics import OperatorMetrics
from tap_optimizer.webauth import Audience, KubernetesAuth

logger = logging.getLogger(__name__)
DASHBOARD_MODES = ("off", "open", "kubernetes")
RENDER_TTL = 5.0  # seconds a rendered page is served again to the same audience
MAX_WAITING = 16  # views waiting for a render before the next is told to come back later
WORKERS = 2  # the endpoints' own threads: renders and authentication calls
# None while this replica acts on the plans; standing by, the leader's identity ("" when none is known).
Standby = Callable[[], str | None]


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


class Dashboard:
    """The rendered pages, by audience: at most one render at a time, reused for RENDER_TTL."""

    def __init__(self, metrics: OperatorMetrics, analysis_path: pathlib.Path | None,
                 auth: KubernetesAuth | None, standby: Standby | None = None) -> None:
        self.metrics, self.analysis_path, self.auth = metrics, analysis_path, auth
        self.standby = standby or (lambda: None)
        self._pages: dict[Audience, tuple[float, str]] = {}
        self._render = asyncio.Lock()
        self._waiting = 0

    async def view(self, request: web.Request) -> web.Response:
        leader = self.standby()
        if leader is not None:
            raise web.HTTPServiceUnavailable(
                text=f"this replica stands by and knows no plans; the leader is {leader or 'not elected yet'}: "
                     "ask it (the Service routes to every replica)", headers={"Retry-After": "5"})
        plans = self.metrics.snapshot()
        audience = await self._audience(request, {(p.get("metadata") or {}).get("namespace", "") for p in plans})
        if self._waiting >= MAX_WAITING:
            raise web.HTTPServiceUnavailable(text="the dashboard is busy; try again shortly",
                                             headers={"Retry-After": "5"})
        self._waiting += 1
        try:
            async with self._render:
                page = self._fresh(audience) or await self._rendered(audience, plans)
        finally:
            self._waiting -= 1
        return web.Response(text=page, content_type="text/html")

    async def _audience(self, request: web.Request, namespaces: set[str]) -> Audience:
        if self.auth is None:
            return Audience.everything()
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token or token == request.headers.get("Authorization", ""):
            raise web.HTTPUnauthorized(text="a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        audience = await asyncio.to_thread(self.auth.audience, token, namespaces)
        if audience is None:
            raise web.HTTPUnauthorized(text="the bearer token was not accepted", headers={"WWW-Authenticate": "Bearer"})
        if not audience.namespaces and not audience.costs:
            raise web.HTTPForbidden(text="you may list OptimizationPlans in none of the namespaces shown here")
        return audience

    def _fresh(self, audience: Audience) -> str | None:
        made, page = self._pages.get(audience, (0.0, ""))
        return page if time.monotonic() - made < RENDER_TTL else None

    async def _rendered(self, audience: Audience, plans: list[dict[str, Any]]) -> str:
        shown = [p for p in plans if audience.sees((p.get("metadata") or {}).get("namespace", ""))]
        analysis = read_analysis(self.analysis_path) if audience.costs else None
        page = await asyncio.to_thread(_page, analysis, shown)
        self._pages = {a: v for a, v in self._pages.items() if time.monotonic() - v[0] < RENDER_TTL}
        self._pages[audience] = (time.monotonic(), page)
        return page


def application(metrics: OperatorMetrics, analysis_path: pathlib.Path | None, dashboard: str = "open",
                auth: KubernetesAuth | None = None, standby: Standby | None = None) -> web.Application:
    """The endpoints; `dashboard` off serves /metrics alone, kubernetes needs `auth`; `standby`
    tells whether this replica stands by, and who leads."""
    async def scrape(request: web.Request) -> web.Response:
        encoder, content_type = exposition.choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encoder(metrics.exposed()), headers={"Content-Type": content_type})

    async def root(_: web.Request) -> web.Response:
        raise web.HTTPFound("/dashboard")

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    if dashboard != "off":
        if dashboard == "kubernetes" and auth is None:
            raise ValueError("--dashboard kubernetes needs the Kubernetes authenticator")
        app.router.add_get("/dashboard", Dashboard(metrics, analysis_path, auth if dashboard == "kubernetes"
                                                   else None, standby).view)
        app.router.add_get("/", root)
    return app


class WebServer:
    """The endpoints on one address, started and stopped on the running loop."""

    def __init__(self, address: Address, app: web.Application) -> None:
        self.address = address
        self._runner = web.AppRunner(app, access_log=None)

    async def start(self) -> None:
        await self._runner.setup()
        await web.TCPSite(self._runner, self.address.host, self.address.port).start()

    async def stop(self) -> None:
        await self._runner.cleanup()


class WebThread:
    """The endpoints on a thread, event loop and worker pool of their own, away from the operator's."""

    def __init__(self, address: Address, make_app: Any) -> None:
        self.address, self._make_app = address, make_app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="http", daemon=True)

    def start(self) -> None:
        """Serve; raises OSError when the address cannot be bound."""
        self._thread.start()
        self._started.wait(30)
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="http-worker"))
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        server = WebServer(self.address, self._make_app())
        try:
            await server.start()
        except OSError as error:
            self._error = error
            self._started.set()
            return
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()

"""`tap-optimizer run`: the HTTP endpoints, the health probe, leader election and kopf, together.

- /metrics (and /dashboard when asked for) run on a thread of their own from the start, whether
  this replica leads or stands by (webserver.WebThread). A standby's /dashboard answers 503
  naming the leader, and its /metrics has no per-plan gauges (`tap_optimizer_leader` is 0).
- /healthz answers on the operator's own loop (so a stalled loop fails the liveness probe): 200
  while standing by, and once kopf is up while leading.
- With leader election, kopf starts only once this replica holds the Lease. A leader that loses
  it exits at once (LOST_EXIT) without finishing anything: every plan's progress is in its status,
  and the next leader continues from there, as after a crash. A leader stopped by SIGTERM stops
  kopf and releases the Lease, so a standby takes over without waiting for it to expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import socket
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass

import kopf
from aiohttp import web

from tap_optimizer import cluster
from tap_optimizer.leaderelection import LeaseElector, Timing
from tap_optimizer.metrics import METRICS
from tap_optimizer.webserver import Address, WebServer, WebThread, application

logger = logging.getLogger(__name__)
LOST_EXIT = 3  # the exit code of a leader that lost its Lease (the pod restarts and stands by)


class CannotListenError(Exception):
    """An address the flags give that cannot be bound (in use, not this host's); names the flag."""


@dataclass(frozen=True)
class Options:
    clusterwide: bool
    namespaces: tuple[str, ...]
    liveness: Address
    http: Address | None
    dashboard: str  # off | open | kubernetes
    analysis: pathlib.Path | None
    lease_name: str | None  # None: no leader election, this replica acts alone
    lease_namespace: str
    lease_seconds: float


async def run(options: Options) -> int:
    cluster.load_config()
    kopf_ready = asyncio.Event()
    elector = _elector(options)
    METRICS.set_leading(elector is None)
    web_thread = _web(options, elector)
    health = WebServer(options.liveness, _health_app(elector, kopf_ready))
    try:
        await _listening(health.start(), "--liveness", options.liveness)
        if elector is None:
            await _operate(options, kopf_ready)
            return 0
        await elector.acquire()
        METRICS.set_leading(True)
        return await _lead(options, elector, kopf_ready)
    finally:
        await health.stop()
        if web_thread is not None:
            web_thread.stop()


async def _lead(options: Options, elector: LeaseElector, kopf_ready: asyncio.Event) -> int:
    operating = asyncio.create_task(_operate(options, kopf_ready))
    holding = asyncio.create_task(elector.hold())
    done, _ = await asyncio.wait({operating, holding}, return_when=asyncio.FIRST_COMPLETED)
    if holding in done:
        logger.critical("stopping at once: another replica may act on the plans now")
        os._exit(LOST_EXIT)  # no cleanup handler may write anything any more
    holding.cancel()
    await elector.release()
    operating.result()
    return 0


async def _operate(options: Options, ready: asyncio.Event) -> None:
    """kopf until SIGTERM (its own signal handlers stop it). No stop flag: nothing here sets one, and
    kopf's waiter of an unset flag held every shutdown for 5 s."""
    from tap_optimizer import handlers  # noqa: F401, PLC0415 (registers the handlers when this replica acts)

    await kopf.operator(clusterwide=options.clusterwide, namespaces=options.namespaces, standalone=True,
                        ready_flag=ready)


def _elector(options: Options) -> LeaseElector | None:
    if options.lease_name is None:
        return None
    identity = f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
    return LeaseElector(options.lease_namespace, options.lease_name, identity, Timing(options.lease_seconds))


def _web(options: Options, elector: LeaseElector | None) -> WebThread | None:
    if options.http is None:
        return None

    def standby() -> str | None:
        """None while this replica acts; standing by, who leads (read from the Lease)."""
        return None if elector is None or elector.leading else elector.holder

    def make_app() -> web.Application:
        from tap_optimizer.webauth import KubernetesAuth  # noqa: PLC0415

        auth = KubernetesAuth() if options.dashboard == "kubernetes" else None
        return application(METRICS, options.analysis, options.dashboard, auth, standby)

    thread = WebThread(options.http, make_app)
    try:
        thread.start()
    except OSError as error:
        raise CannotListenError(f"--http {options.http.host}:{options.http.port}: cannot listen there: "
                                f"{error.strerror or error}") from error
    return thread


async def _listening(start: Awaitable[None], flag: str, address: Address) -> None:
    try:
        await start
    except OSError as error:
        raise CannotListenError(f"{flag} {address.host}:{address.port}: cannot listen there: "
                                f"{error.strerror or error}") from error


def _health_app(elector: LeaseElector | None, kopf_ready: asyncio.Event) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        standing_by = elector is not None and not elector.leading
        if standing_by or kopf_ready.is_set():
            return web.json_response({"role": "standby" if standing_by else "leader"})
        return web.json_response({"role": "starting"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    return app
